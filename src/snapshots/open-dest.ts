/**
 * Which folders may become or be used as a snapshot dest. Every refusal here is a UsageError (exit 2)
 * raised before anything is written.
 */
import fs from 'node:fs';
import path from 'node:path';
import { tempRelFor, writeFileAtomic } from '../common/atomic.js';
import { errnoCode, UsageError } from '../common/errors.js';
import { baseName, displayPath, fsPath, joinRaw, type RawPath } from '../common/raw-path.js';
import { FORMAT_VERSION, isSnapshotDest, readFormat, snapshotDest, type SnapshotDest } from './layout.js';

/** statfs f_type of filesystems that have no hard links: every snapshot would be a full copy. */
const WITHOUT_HARD_LINKS: ReadonlyMap<number, string> = new Map([
  [0x4d44, 'vfat'],
  [0x2011bab0, 'exfat'],
]);

/** The filesystem type name when `type` (statfs f_type) is one without hard links. */
export function filesystemWithoutHardLinks(type: number): string | undefined {
  return WITHOUT_HARD_LINKS.get(type);
}

/** A plain `backup` into a snapshot dest would write beside current/ and snapshots/ (and --delete wipe them). */
export function refusePlainBackupInto(root: RawPath): void {
  if (!isSnapshotDest(root)) return;
  throw new UsageError(`dest ${displayPath(root)} is a snapshot dest: back up into it with --snapshot (a plain backup would write beside current/ and snapshots/)`, 'ESNAPSHOTDEST');
}

/** Checks what `--snapshot` may write into, without writing anything. */
export function checkSnapshotDest(root: RawPath): void {
  if (isSnapshotDest(root)) {
    readFormat(root);
    return;
  }
  const shown = displayPath(root);
  if (!isEmptyOrMissing(root)) {
    const parked = `${shown}.plain`;
    throw new UsageError(
      `dest ${shown} holds files but is not a snapshot dest; to keep that backup as the start of one (nothing is copied): ` +
        `mv ${shown} ${parked} && mkdir ${shown} && mv ${parked} ${shown}/current, then run again with --snapshot`,
      'ENOTSNAPSHOTDEST',
    );
  }
  const existing = nearestExisting(root);
  const statfsType = fs.statfsSync(fsPath(existing)).type;
  const type = filesystemWithoutHardLinks(statfsType) ?? (statfsType === FUSE_MAGIC ? fuseWithoutHardLinks(existing) : undefined);
  if (type !== undefined) {
    throw new UsageError(`dest ${shown} is on a ${type} filesystem, which has no hard links: snapshots need them (use ext4, xfs, btrfs, …)`, 'ENOHARDLINKS');
  }
}

/** statfs f_type of every FUSE filesystem (exfat-fuse, ntfs-3g, sshfs, …): its type says nothing of links. */
const FUSE_MAGIC = 0x65735546;

/**
 * The FUSE filesystem's type (fuseblk, fuse.sshfs, …) when it refuses a hard link, tried on a temporary
 * file in `folder` that is removed again (a kernel vfat or exfat is named by its statfs type instead).
 */
function fuseWithoutHardLinks(folder: RawPath): string | undefined {
  const file = joinRaw(folder, baseName(tempRelFor(joinRaw(folder, 'link-test'))));
  const link = joinRaw(folder, baseName(tempRelFor(joinRaw(folder, 'link-test'))));
  fs.closeSync(fs.openSync(fsPath(file), fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600));
  try {
    fs.linkSync(fsPath(file), fsPath(link));
    fs.rmSync(fsPath(link));
    return undefined;
  } catch (err) {
    if (!['EPERM', 'ENOSYS', 'EOPNOTSUPP', 'ENOTSUP'].includes(errnoCode(err) ?? '')) throw err;
    return mountTypeOf(folder) ?? 'FUSE';
  } finally {
    fs.rmSync(fsPath(file), { force: true });
  }
}

/** The type /proc/self/mountinfo gives the mount holding `folder` (the longest mount point above it). */
function mountTypeOf(folder: RawPath): string | undefined {
  const real = fs.realpathSync(fsPath(folder));
  let best: { point: string; type: string } | undefined;
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const fields = line.split(' ');
    const separator = fields.indexOf('-');
    const point = fields[4]?.replace(/\\(\d{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
    const type = fields[separator + 1];
    if (separator < 0 || point === undefined || type === undefined) continue;
    const inside = real === point || real.startsWith(point.endsWith('/') ? point : `${point}/`);
    if (inside && (best === undefined || point.length > best.point.length)) best = { point, type };
  }
  return best?.type;
}

/**
 * Makes `root` a snapshot dest if it is not one yet (the marker first, so that a plain backup refuses it
 * from then on), and returns its layout. Call checkSnapshotDest first.
 */
export function openSnapshotDest(root: RawPath): SnapshotDest {
  const dest = snapshotDest(root);
  if (!isSnapshotDest(root)) {
    fs.mkdirSync(fsPath(dest.meta), { recursive: true, mode: 0o700 });
    writeFileAtomic(dest.marker, `${JSON.stringify({ format: FORMAT_VERSION })}\n`);
  }
  // A dest converted by hand (mv … current) has no snapshots/ yet.
  for (const folder of [dest.current, dest.snapshots, dest.manifests]) fs.mkdirSync(fsPath(folder), { recursive: true, mode: 0o700 });
  return dest;
}

/**
 * An empty dest, or one that is only a hand-converted mirror: the user moved their plain backup into
 * current/ as the refusal message says.
 */
function isEmptyOrMissing(root: RawPath): boolean {
  try {
    const names = fs.readdirSync(fsPath(root), { encoding: 'latin1' });
    return names.length === 0 || (names.length === 1 && names[0] === 'current');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return true;
    throw err;
  }
}

function nearestExisting(root: RawPath): RawPath {
  for (let current = root; ; current = path.dirname(current)) {
    if (fs.existsSync(fsPath(current))) return current;
    if (current === path.dirname(current)) return current;
  }
}
