/**
 * Restore from a snapshot dest: `snapshots/<name>/` (or paths of it), the browsable tree, restored by
 * backup/restore.ts through the streamed engine (backup/stream.ts, a batch of folders at a time), so a
 * restore's memory does not grow with the snapshot either. It works on any folder of the snapshot layout.
 */
import fs from 'node:fs';
import type { BackupJob } from '../backup/backup.js';
import { checkTarget, type RestoreSource, type RestoreTarget } from '../backup/restore.js';
import { streamBackup, streamDryRun, type StreamRules } from '../backup/stream.js';
import { UsageError, errnoCode, type EntryFailure } from '../common/errors.js';
import { displayPath, fsPath, isAtOrBelow, joinRaw, type RawPath } from '../common/raw-path.js';
import { inspect } from '../plan/walk.js';
import { findSnapshot, isSnapshotDest, LATEST, listSnapshots, readFormat, type SnapshotRef } from './layout.js';

export interface RestoreRequest extends RestoreTarget {
  /** The snapshot dest. */
  readonly root: RawPath;
  /** A snapshot name or `latest`. */
  readonly snapshot: string;
  /** Where the snapshot dest lies below `to`, when it does: nothing there (or above it) may be replaced. */
  readonly avoid?: RawPath;
}

export interface SnapshotRestore extends RestoreSource {
  readonly snapshot: SnapshotRef;
}

/**
 * Checks everything a restore can be refused for before anything is written: the snapshot, its paths, a
 * non-empty `to`, the snapshot dest inside `to`. Throws UsageError.
 */
export function openSnapshotRestore(request: RestoreRequest): SnapshotRestore {
  const snapshot = pickSnapshot(request.root, request.snapshot);
  for (const rel of request.paths) {
    if (!inSnapshot(snapshot.path, rel)) throw new UsageError(`${displayPath(rel)}: not in snapshot ${snapshot.name}`, 'ENOPATH');
  }
  checkTarget(request.to, request.overwrite);
  if (request.avoid !== undefined) checkAvoid(snapshot.path, request, request.avoid);
  const job: BackupJob = {
    source: snapshot.path,
    dest: request.to,
    exclude: [],
    delete: false,
    compare: 'size-mtime',
    keepOwner: request.keepOwner,
    hardLinks: false,
    xattrs: request.xattrs,
    oneFileSystem: false,
  };
  const rules: StreamRules = { restore: { paths: request.paths } };
  return {
    snapshot,
    preview: (show) => streamDryRun(job, show, rules),
    sync: (execution, hooks) => streamBackup(job, execution, hooks, rules),
  };
}

/** Whether the snapshot has an entry at `rel` below folders only (a symlink on the way is not followed). */
function inSnapshot(snapshotPath: RawPath, rel: RawPath): boolean {
  const parts = rel.split('/');
  for (let depth = 1; depth <= parts.length; depth++) {
    const entry = inspect(snapshotPath, parts.slice(0, depth).join('/'), []);
    if (entry === undefined || (depth < parts.length && entry.kind !== 'dir')) return false;
  }
  return true;
}

/**
 * Refuses a restore that would write into the snapshot dest below `to` (the snapshot has an entry at its
 * path) or replace a folder above it (the snapshot has a file or symlink there): known from a few lstats
 * of the snapshot, before the first write.
 */
function checkAvoid(snapshotPath: RawPath, request: RestoreTarget, avoid: RawPath): void {
  const restored = (rel: RawPath) => request.paths.length === 0 || request.paths.some((top) => isAtOrBelow(rel, top));
  const parts = avoid.split('/');
  for (let depth = 1; depth <= parts.length; depth++) {
    const rel = parts.slice(0, depth).join('/');
    const failures: EntryFailure[] = [];
    const entry = inspect(snapshotPath, rel, failures);
    if (entry === undefined && failures.length === 0) return;
    const isAvoided = depth === parts.length;
    if (restored(rel) && (isAvoided || entry?.kind !== 'dir')) {
      throw new UsageError(`restoring ${displayPath(joinRaw(request.to, rel))} would write into the snapshot dest ${displayPath(joinRaw(request.to, avoid))}`, 'EINSIDEDEST');
    }
    if (entry?.kind !== 'dir') return;
  }
}

function pickSnapshot(root: RawPath, name: string): SnapshotRef {
  if (isSnapshotDest(root)) readFormat(root);
  const snapshot = findSnapshot(root, name);
  if (snapshot === undefined) {
    const names = listSnapshots(root).map((s) => s.name);
    if (names.length === 0) throw new UsageError(`${displayPath(root)}: no snapshots (no complete snapshots/<name>/ folder)`, 'ENOSNAPSHOT');
    const shown = names.length > 3 ? `${names.slice(-3).join(', ')} and ${names.length - 3} older` : names.join(', ');
    throw new UsageError(`${name === LATEST ? LATEST : `snapshot ${name}`}: not in ${displayPath(root)} (it has ${shown})`, 'ENOSNAPSHOT');
  }
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(fsPath(snapshot.path));
  } catch (err) {
    throw new UsageError(`${displayPath(snapshot.path)}: cannot be read (${errnoCode(err) ?? 'error'})`, 'ENOSNAPSHOT');
  }
  if (!stat.isDirectory()) throw new UsageError(`${displayPath(snapshot.path)}: not a folder`, 'ENOSNAPSHOT');
  return snapshot;
}
