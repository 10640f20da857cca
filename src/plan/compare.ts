/** Pure comparisons between a source entry and what dest holds at the same path. */
import type { CopyReason, Entry, FileEntry, Meta } from './types.js';

export type CompareMode = 'size-mtime' | 'checksum';

/**
 * Node reads mtimes as float milliseconds and writes them through a double of seconds, so a copy's mtime
 * can differ from its source's by well under a millisecond. Compare at the precision dest keeps (ms), or
 * every run would copy everything again.
 */
export function sameMtime(a: number, b: number): boolean {
  return Math.abs(a - b) < 1;
}

/** Why `source` must be copied over `dest`, or undefined when dest's copy is current. */
export function copyReason(source: FileEntry, dest: Entry | undefined, mode: CompareMode): CopyReason | undefined {
  if (dest === undefined) return 'new';
  if (dest.kind !== 'file') return 'type';
  if (dest.size !== source.size) return 'size';
  if (mode === 'checksum') return 'checksum';
  return sameMtime(source.mtimeMs, dest.mtimeMs) ? undefined : 'mtime';
}

/** True when dest's mode, mtime or (when owners are kept) owner differ from the source's. */
export function metaDiffers(source: Meta, dest: Meta, keepOwner: boolean): boolean {
  return (
    source.mode !== dest.mode ||
    !sameMtime(source.mtimeMs, dest.mtimeMs) ||
    (keepOwner && (source.uid !== dest.uid || source.gid !== dest.gid))
  );
}

/**
 * Whether the source's extended attributes may differ from dest's, without reading them: any change to a
 * source entry's attributes bumps its ctime, and dest's ctime is when backupd last wrote it. Reading the
 * attributes of every file would double the syscalls of a no-op rerun. A dest whose attributes were never
 * copied (written by a version without them) is only caught up by --checksum or a change in the source.
 */
export function attributesMayDiffer(source: Meta, dest: Meta): boolean {
  return source.ctimeMs >= dest.ctimeMs;
}
