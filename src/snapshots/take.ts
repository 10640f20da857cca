/**
 * Taking a snapshot of current/: a tree of new folders, hard links to current/'s file inodes, and new
 * symlinks, built under `snapshots/.<name>.partial` and renamed into place only when complete, with its
 * manifest written and everything flushed first. Then `latest` is replaced atomically (a symlink made
 * under a temporary name, renamed over it).
 *
 * Crash safety: until the rename, listing ignores the partial tree and the next run removes it; the
 * rename is the commit. A kill -9 at any point leaves every complete snapshot exactly as it was, because
 * nothing here writes to an existing inode: files are only linked, and folders are this snapshot's own.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { fsyncDir, isTempName, tempRelFor } from '../common/atomic.js';
import { errnoCode, type EntryFailure } from '../common/errors.js';
import { pausePoint } from '../common/pause-point.js';
import { displayPath, fsPath, joinRaw, type RawPath } from '../common/raw-path.js';
import { freshTimeName } from '../common/time-name.js';
import { ParentPins } from '../copy/confine.js';
import { applyMetaAt } from '../copy/copy-file.js';
import { copyXattrsBetween } from '../copy/xattrs.js';
import type { DirEntry, Entry, FileEntry } from '../plan/types.js';
import { inspect, listFolderEntries } from '../plan/walk.js';
import { LATEST, listSnapshots, partialName, removingName, type SnapshotDest } from './layout.js';
import { manifestEntry, manifestNames, ManifestWriter, removeManifest } from './manifest.js';

export interface SnapshotTaken {
  readonly name: string;
  readonly files: number;
  readonly bytes: number;
  /** Bytes of files whose content no earlier snapshot holds (copied into current/ since the last one). */
  readonly bytesNew: number;
  /** Files sharing their inode with the previous snapshot: they cost nothing. */
  readonly linked: number;
  /** Files with content new to this snapshot. */
  readonly copied: number;
  /** Links the filesystem refused (EMLINK: too many links to one inode, …): copied instead. */
  readonly linksRefused: number;
}

export interface TakeOptions {
  /** The source root: a file's source identity (for the manifest) is read beside current/'s entry. */
  readonly source: RawPath;
  /** The snapshot before this one: its manifest files are linked where equal, its inodes are "linked". */
  readonly previous: string | undefined;
  readonly failed: boolean;
  readonly keepOwner: boolean;
  /** Give the snapshot's own folders (and files copied for a refused link) current/'s extended attributes. */
  readonly xattrs: boolean;
  readonly time?: Date;
}

/**
 * Removes what an interrupted run left: partial snapshots (never listed, so never seen by anyone),
 * temporaries of `latest` and of manifests, and manifests whose snapshot does not exist (written just
 * before a kill that came before the rename); and points `latest` at the newest snapshot again (a kill
 * between the rename and the switch).
 */
export function removeInterrupted(dest: SnapshotDest): void {
  const names = readNames(dest.snapshots);
  for (const name of names) {
    const leftover = (name.startsWith('.') && name.endsWith('.partial')) || isTempName(name);
    if (leftover) fs.rmSync(fsPath(joinRaw(dest.snapshots, name)), { recursive: true, force: true });
  }
  for (const name of readNames(dest.manifests)) if (isTempName(name)) fs.rmSync(fsPath(joinRaw(dest.manifests, name)), { force: true });
  const complete = listSnapshots(dest.root);
  const completeNames = new Set(complete.map((s) => s.name));
  for (const name of manifestNames(dest.root)) {
    // A snapshot being removed (prune) keeps its manifest until it is gone.
    if (!completeNames.has(name) && !names.includes(removingName(name))) removeManifest(dest.root, name);
  }
  const newest = complete.at(-1)?.name;
  if (newest !== undefined && readLatest(dest) !== newest) pointLatestAt(dest, newest);
}

function readNames(folder: RawPath): string[] {
  try {
    return fs.readdirSync(fsPath(folder), { encoding: 'latin1' });
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
}

function readLatest(dest: SnapshotDest): string | undefined {
  try {
    return fs.readlinkSync(fsPath(joinRaw(dest.snapshots, LATEST)), { encoding: 'latin1' });
  } catch {
    return undefined;
  }
}

/**
 * Walks current/ folder by folder, building the partial tree and writing the manifest as it goes, so
 * that memory does not grow with the tree; then flush, rename, `latest`.
 */
export function takeSnapshot(dest: SnapshotDest, options: TakeOptions): SnapshotTaken {
  const existing = listSnapshots(dest.root);
  const time = options.time ?? new Date();
  const name = freshTimeName(time, new Set(existing.map((s) => s.name)));
  const partial = joinRaw(dest.snapshots, partialName(name));
  const final = joinRaw(dest.snapshots, name);
  let writer: ManifestWriter | undefined;
  try {
    // By real path: the builder's writes go through parents checked against it (copy/confine.ts).
    const realPartial = joinRaw(fs.realpathSync(fsPath(dest.snapshots), { encoding: 'latin1' }), partialName(name));
    writer = new ManifestWriter(dest.root, name, time);
    const builder = new TreeBuilder(dest.current, realPartial, options, writer);
    builder.build();
    pausePoint('snapshot-built');
    const { stats, shared } = writer.finish(options.failed, options.previous);
    pausePoint('snapshot-manifest');
    // One flush of the filesystem makes the copies in current/, the links and the manifest durable before
    // the rename publishes them (a folder fsync per folder would not cover the files' data).
    syncFilesystem(dest.root);
    fs.renameSync(fsPath(partial), fsPath(final));
    pausePoint('snapshot-renamed');
    pointLatestAt(dest, name);
    fsyncDir(dest.snapshots);
    const { linked, bytesNew } = shared;
    return { name, files: stats.files, bytes: stats.bytes, bytesNew, linked, copied: stats.files - linked, linksRefused: builder.linksRefused };
  } catch (err) {
    writer?.abandon();
    fs.rmSync(fsPath(partial), { force: true, recursive: true });
    if (!fs.existsSync(fsPath(final))) removeManifest(dest.root, name);
    throw err;
  }
}

/**
 * Builds the partial tree from current/, a folder at a time: its entries placed (folders private until
 * their contents are in), each one's manifest entry written, then its subfolders, then its mode and
 * times. Every write goes through its parent folder pinned and checked (confine.ts): a folder of the
 * partial tree swapped for a symlink meanwhile fails the snapshot instead of placing links or modes
 * elsewhere. Held in memory: the folders on the way down and their listings.
 */
class TreeBuilder {
  linksRefused = 0;
  private readonly pins = new ParentPins();
  /** Listing failures: a folder of current/ that cannot be listed is snapshotted empty, as a walk would. */
  private readonly ignored: EntryFailure[] = [];
  private halfway = false;

  constructor(
    private readonly from: RawPath,
    private readonly to: RawPath,
    private readonly options: Pick<TakeOptions, 'source' | 'keepOwner' | 'xattrs'>,
    private readonly manifest: ManifestWriter,
  ) {}

  build(): void {
    try {
      const root = inspect(this.from, '', this.ignored);
      if (root?.kind !== 'dir') throw Object.assign(new Error(`${displayPath(this.from)} is not a folder`), { code: 'ENOTDIR' });
      this.place(root);
      this.fill(root);
    } finally {
      this.pins.close();
    }
  }

  private fill(folder: DirEntry): void {
    const listed = listFolderEntries(this.from, folder.rel, { collectTemps: true }, this.ignored);
    const subfolders: DirEntry[] = [];
    for (const entry of listed?.entries ?? []) {
      const ino = this.place(entry);
      const from = entry.kind === 'file' ? inspect(this.options.source, entry.rel, this.ignored) : undefined;
      const row = manifestEntry(entry, from);
      if (row === undefined) continue;
      this.manifest.add(ino === undefined ? row : { ...row, ino });
      if (entry.kind === 'dir') subfolders.push(entry);
    }
    for (const subfolder of subfolders) {
      this.fill(subfolder);
      this.pauseHalfway(folder);
    }
    this.pauseHalfway(folder);
    this.setFolderMeta(folder);
  }

  /** Once, when the root's first subfolder is filled and the others are not (kill tests stop here). */
  private pauseHalfway(folder: DirEntry): void {
    if (folder.rel !== '' || this.halfway) return;
    this.halfway = true;
    pausePoint('snapshot-half-built');
  }

  /** Places one entry; for a file copied because its link was refused, the copy's inode. */
  private place(entry: Entry): number | undefined {
    // The partial tree's own root is made beside the complete snapshots; everything else below it.
    const target = this.pins.pin(joinRaw(this.to, entry.rel)).pinned;
    switch (entry.kind) {
      case 'dir':
        fs.mkdirSync(fsPath(target), { mode: 0o700 });
        return undefined;
      case 'file':
        return this.linkOrCopy(entry, target);
      case 'symlink':
        fs.symlinkSync(fsPath(entry.target), fsPath(target));
        if (this.options.keepOwner) fs.lchownSync(fsPath(target), entry.uid, entry.gid);
        fs.lutimesSync(fsPath(target), entry.atimeMs / 1000, entry.mtimeMs / 1000);
        return undefined;
      case 'special':
        return undefined;
    }
  }

  /** A hard link to current/'s inode; if the filesystem refuses it (EMLINK, …), a copy with the same metadata. */
  private linkOrCopy(entry: FileEntry, target: RawPath): number | undefined {
    const source = joinRaw(this.from, entry.rel);
    try {
      fs.linkSync(fsPath(source), fsPath(target));
      return undefined;
    } catch (err) {
      if (errnoCode(err) === 'ENOSPC' || errnoCode(err) === 'ENOENT') throw err;
    }
    // Under a temporary name first, so that a copy cut short is never at the final name (it is in a
    // partial snapshot anyway; this keeps the rule uniform).
    const temp = tempRelFor(target);
    fs.copyFileSync(fsPath(source), fsPath(temp), fs.constants.COPYFILE_EXCL | fs.constants.COPYFILE_FICLONE);
    if (this.options.keepOwner) fs.chownSync(fsPath(temp), entry.uid, entry.gid);
    fs.chmodSync(fsPath(temp), entry.mode);
    fs.utimesSync(fsPath(temp), entry.atimeMs / 1000, entry.mtimeMs / 1000);
    if (this.options.xattrs) copyXattrsBetween(source, temp);
    fs.renameSync(fsPath(temp), fsPath(target));
    this.linksRefused++;
    return fs.lstatSync(fsPath(target)).ino;
  }

  private setFolderMeta(folder: DirEntry): void {
    const target = this.pins.pin(joinRaw(this.to, folder.rel)).pinned;
    // Owner, mode and times on a descriptor opened without following a symlink swapped in.
    applyMetaAt(target, folder, this.options.keepOwner);
    // After owner and mode (chmod rewrites an ACL's mask); attributes do not change the mtime.
    if (this.options.xattrs) copyXattrsBetween(joinRaw(this.from, folder.rel), target);
  }
}

/** `latest` → name, replaced in one rename: a reader sees the old target or the new one, never neither. */
function pointLatestAt(dest: SnapshotDest, name: string): void {
  const latest = joinRaw(dest.snapshots, LATEST);
  const temp = tempRelFor(latest);
  fs.symlinkSync(name, fsPath(temp));
  try {
    fs.renameSync(fsPath(temp), fsPath(latest));
  } catch (err) {
    fs.rmSync(fsPath(temp), { force: true });
    throw err;
  }
}

/**
 * syncfs(2), which Node has no binding for, through coreutils' `sync -f`. The folder goes in as the
 * child's stdin (`/dev/stdin`), so its path never has to be a valid UTF-8 argument.
 */
function syncFilesystem(path: RawPath): void {
  const fd = fs.openSync(fsPath(path), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    execFileSync('sync', ['-f', '/dev/stdin'], { stdio: [fd, 'ignore', 'pipe'] });
  } finally {
    fs.closeSync(fd);
  }
}
