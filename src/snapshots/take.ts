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
import { errnoCode } from '../common/errors.js';
import { pausePoint } from '../common/pause-point.js';
import { fsPath, joinRaw, type RawPath } from '../common/raw-path.js';
import { freshTimeName } from '../common/time-name.js';
import { ParentPins } from '../copy/confine.js';
import { applyMetaAt } from '../copy/copy-file.js';
import { copyXattrsBetween } from '../copy/xattrs.js';
import type { DirEntry, Entry, FileEntry, Tree } from '../plan/types.js';
import { LATEST, listSnapshots, partialName, removingName, type SnapshotDest } from './layout.js';
import { manifestEntries, manifestNames, removeManifest, statsOf, writeManifest, type Manifest, type ManifestEntry } from './manifest.js';

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
  /** The walk of current/ as it is now (collectTemps, so that temporaries are not part of it). */
  readonly current: Tree;
  /** The walk of the source, for the manifest's source identities. */
  readonly source: Tree;
  readonly previous: Manifest | undefined;
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

export function takeSnapshot(dest: SnapshotDest, options: TakeOptions): { taken: SnapshotTaken; manifest: Manifest } {
  const existing = listSnapshots(dest.root);
  const time = options.time ?? new Date();
  const name = freshTimeName(time, new Set(existing.map((s) => s.name)));
  const partial = joinRaw(dest.snapshots, partialName(name));
  const final = joinRaw(dest.snapshots, name);
  try {
    // By real path: the builder's writes go through parents checked against it (copy/confine.ts).
    const realPartial = joinRaw(fs.realpathSync(fsPath(dest.snapshots), { encoding: 'latin1' }), partialName(name));
    const builder = new TreeBuilder(dest.current, realPartial, options.keepOwner, options.xattrs);
    builder.build(options.current);
    pausePoint('snapshot-built');
    const entries = withSnapshotInodes(manifestEntries(options.current, options.source), builder.copiedInodes);
    const manifest: Manifest = { ...statsOf(name, time, entries, options.failed), entries };
    writeManifest(dest.root, manifest, options.previous?.name);
    pausePoint('snapshot-manifest');
    // One flush of the filesystem makes the copies in current/, the links and the manifest durable before
    // the rename publishes them (a folder fsync per folder would not cover the files' data).
    syncFilesystem(dest.root);
    fs.renameSync(fsPath(partial), fsPath(final));
    pausePoint('snapshot-renamed');
    pointLatestAt(dest, name);
    fsyncDir(dest.snapshots);
    return { taken: summarize(manifest, options.previous, builder.copiedInodes.size), manifest };
  } catch (err) {
    fs.rmSync(fsPath(partial), { recursive: true, force: true });
    if (!fs.existsSync(fsPath(final))) removeManifest(dest.root, name);
    throw err;
  }
}

/**
 * Builds the partial tree: folders private until their contents are in, then their mode and times. Every
 * write goes through its parent folder pinned and checked (confine.ts): a folder of the partial tree
 * swapped for a symlink meanwhile fails the snapshot instead of placing links or modes elsewhere.
 */
class TreeBuilder {
  /** rel → inode of files copied because a link was refused. */
  readonly copiedInodes = new Map<RawPath, number>();
  private readonly pins = new ParentPins();

  constructor(
    private readonly from: RawPath,
    private readonly to: RawPath,
    private readonly keepOwner: boolean,
    private readonly xattrs: boolean,
  ) {}

  build(tree: Tree): void {
    try {
      const folders: DirEntry[] = [];
      const halfway = Math.floor(tree.entries.size / 2);
      let placed = 0;
      for (const entry of tree.entries.values()) {
        this.place(entry);
        if (entry.kind === 'dir') folders.push(entry);
        if (++placed === halfway) pausePoint('snapshot-half-built');
      }
      for (let i = folders.length - 1; i >= 0; i--) this.setFolderMeta(folders[i] as DirEntry);
    } finally {
      this.pins.close();
    }
  }

  private place(entry: Entry): void {
    // The partial tree's own root is made beside the complete snapshots; everything else below it.
    const target = this.pins.pin(joinRaw(this.to, entry.rel)).pinned;
    switch (entry.kind) {
      case 'dir':
        fs.mkdirSync(fsPath(target), { mode: 0o700 });
        break;
      case 'file':
        this.linkOrCopy(entry, target);
        break;
      case 'symlink':
        fs.symlinkSync(fsPath(entry.target), fsPath(target));
        if (this.keepOwner) fs.lchownSync(fsPath(target), entry.uid, entry.gid);
        fs.lutimesSync(fsPath(target), entry.atimeMs / 1000, entry.mtimeMs / 1000);
        break;
      case 'special':
        break;
    }
  }

  /** A hard link to current/'s inode; if the filesystem refuses it (EMLINK, …), a copy with the same metadata. */
  private linkOrCopy(entry: FileEntry, target: RawPath): void {
    const source = joinRaw(this.from, entry.rel);
    try {
      fs.linkSync(fsPath(source), fsPath(target));
      return;
    } catch (err) {
      if (errnoCode(err) === 'ENOSPC' || errnoCode(err) === 'ENOENT') throw err;
    }
    // Under a temporary name first, so that a copy cut short is never at the final name (it is in a
    // partial snapshot anyway; this keeps the rule uniform).
    const temp = tempRelFor(target);
    fs.copyFileSync(fsPath(source), fsPath(temp), fs.constants.COPYFILE_EXCL | fs.constants.COPYFILE_FICLONE);
    if (this.keepOwner) fs.chownSync(fsPath(temp), entry.uid, entry.gid);
    fs.chmodSync(fsPath(temp), entry.mode);
    fs.utimesSync(fsPath(temp), entry.atimeMs / 1000, entry.mtimeMs / 1000);
    if (this.xattrs) copyXattrsBetween(source, temp);
    fs.renameSync(fsPath(temp), fsPath(target));
    this.copiedInodes.set(entry.rel, fs.lstatSync(fsPath(target)).ino);
  }

  private setFolderMeta(folder: DirEntry): void {
    const target = this.pins.pin(joinRaw(this.to, folder.rel)).pinned;
    // Owner, mode and times on a descriptor opened without following a symlink swapped in.
    applyMetaAt(target, folder, this.keepOwner);
    // After owner and mode (chmod rewrites an ACL's mask); attributes do not change the mtime.
    if (this.xattrs) copyXattrsBetween(joinRaw(this.from, folder.rel), target);
  }
}

function withSnapshotInodes(entries: ManifestEntry[], copied: ReadonlyMap<RawPath, number>): ManifestEntry[] {
  if (copied.size === 0) return entries;
  return entries.map((e) => {
    const ino = copied.get(e.rel);
    return ino === undefined ? e : { ...e, ino };
  });
}

function summarize(manifest: Manifest, previous: Manifest | undefined, linksRefused: number): SnapshotTaken {
  const before = new Set<number>();
  for (const e of previous?.entries ?? []) if (e.kind === 'file') before.add(e.ino);
  let linked = 0;
  let bytesNew = 0;
  for (const e of manifest.entries) {
    if (e.kind !== 'file') continue;
    if (before.has(e.ino)) linked++;
    else bytesNew += e.size;
  }
  const { name, files, bytes } = manifest;
  return { name, files, bytes, bytesNew, linked, copied: files - linked, linksRefused };
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
