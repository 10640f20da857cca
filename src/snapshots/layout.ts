/**
 * The on-disk layout of a snapshot dest. Snapshots are named by common/time-name.ts.
 *
 *   <dest>/current/               the live mirror
 *   <dest>/snapshots/<name>/      one complete tree per snapshot; <name> is UTC time (2026-12-02T014500Z,
 *                                 then -1, -2 … within one second)
 *   <dest>/snapshots/latest       symlink to the newest complete snapshot
 *   <dest>/versions/              files the daemon replaced or deleted between snapshots
 *   <dest>/.backupd/              marker (format version), lock, manifests, logs of runs
 *
 * A snapshot under construction is `snapshots/.<name>.partial`; a snapshot being removed is renamed to
 * `snapshots/.<name>.removing` first. Listing sees only complete snapshots, so a crash at any point
 * leaves the list exactly as it was.
 */
import fs from 'node:fs';
import os from 'node:os';
import { fsPath, joinRaw, type RawPath } from '../common/raw-path.js';
import { UsageError } from '../common/errors.js';
import { parseTimeName, timeNameSequence } from '../common/time-name.js';

export const FORMAT_VERSION = 1;
export const LATEST = 'latest';

export interface SnapshotDest {
  readonly root: RawPath;
  readonly current: RawPath;
  readonly snapshots: RawPath;
  readonly latest: RawPath;
  readonly versions: RawPath;
  readonly meta: RawPath;
  /** `.backupd/format`: JSON `{"format": 1}`; its presence makes a folder a snapshot dest. */
  readonly marker: RawPath;
  readonly lock: RawPath;
  /** `.backupd/manifests/<name>.json…`: one manifest per snapshot. */
  readonly manifests: RawPath;
}

export function snapshotDest(root: RawPath): SnapshotDest {
  const meta = joinRaw(root, '.backupd');
  const snapshots = joinRaw(root, 'snapshots');
  return {
    root,
    current: joinRaw(root, 'current'),
    snapshots,
    latest: joinRaw(snapshots, LATEST),
    versions: joinRaw(root, 'versions'),
    meta,
    marker: joinRaw(meta, 'format'),
    lock: joinRaw(meta, 'lock'),
    manifests: joinRaw(meta, 'manifests'),
  };
}

export function isSnapshotDest(root: RawPath): boolean {
  return fs.existsSync(fsPath(snapshotDest(root).marker));
}

/** The format version a snapshot dest declares; refuses a newer format than this build knows. */
export function readFormat(root: RawPath): number {
  const { marker } = snapshotDest(root);
  const text = fs.readFileSync(fsPath(marker), 'utf8');
  const format = (JSON.parse(text) as { format?: unknown }).format;
  if (typeof format !== 'number' || !Number.isInteger(format)) {
    throw new UsageError(`${marker}: not a backupd snapshot marker`, 'EBADMARKER');
  }
  if (format > FORMAT_VERSION) {
    throw new UsageError(`${root}: snapshot format ${format} is newer than this backupd understands (${FORMAT_VERSION})`, 'EFORMAT');
  }
  return format;
}

export const partialName = (name: string): string => `.${name}.partial`;
export const removingName = (name: string): string => `.${name}.removing`;

export interface SnapshotRef {
  readonly name: string;
  readonly time: Date;
  /** The snapshot's folder. */
  readonly path: RawPath;
}

/** The names in a folder of the layout (raw), none when it does not exist (yet). */
export function namesIn(folder: RawPath): string[] {
  try {
    return fs.readdirSync(fsPath(folder), { encoding: 'latin1' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Complete snapshots, oldest first. Partial and half-removed ones, `latest` and strays are not listed. */
export function listSnapshots(root: RawPath): SnapshotRef[] {
  const { snapshots } = snapshotDest(root);
  const refs: SnapshotRef[] = [];
  for (const name of namesIn(snapshots)) {
    const time = parseTimeName(name);
    if (time) refs.push({ name, time, path: joinRaw(snapshots, name) });
  }
  return refs.sort((a, b) => a.time.getTime() - b.time.getTime() || timeNameSequence(a.name) - timeNameSequence(b.name));
}

/**
 * A snapshot by name, `latest` (the newest), or undefined when there is none of that name. The
 * `latest` symlink is a convenience for people browsing; the list is the truth.
 */
export function findSnapshot(root: RawPath, name: string = LATEST): SnapshotRef | undefined {
  const all = listSnapshots(root);
  return name === LATEST ? all.at(-1) : all.find((ref) => ref.name === name);
}

/**
 * Where a run's temporary spills go (sorts, the moved-file index): beside the manifests, on the dest's own
 * disk; the system's temporary folder when this process may not write there (a backup disk mounted
 * read-only to look into it, or previewed with --dry-run).
 */
export function spillFolder(root: RawPath): RawPath {
  const { manifests } = snapshotDest(root);
  try {
    fs.accessSync(fsPath(manifests), fs.constants.W_OK);
    return manifests;
  } catch {
    return os.tmpdir();
  }
}
