/**
 * Copies one file atomically, with synchronous fs calls: this runs inside worker threads, where blocking
 * is free and avoids libuv's shared 4-thread pool (measured: sync calls per thread beat async fs here).
 *
 * temp (O_EXCL, never more open than the final mode) → copy while hashing if asked → owner, mode, times, extended attributes on the
 * descriptor → verify → rename.
 * The source is opened with O_NOFOLLOW | O_NONBLOCK and checked with fstat, so a symlink or FIFO swapped
 * in after the scan is never read through or waited on. If the source changed while it was read, the copy
 * is thrown away and tried once more; the mtime given to the copy is the one of the content actually read.
 */
import { spawn } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import { tempRelFor } from '../common/atomic.js';
import { errorData, errnoCode } from '../common/errors.js';
import { writeFully } from '../common/positioned-io.js';
import { fsPath, type RawPath } from '../common/raw-path.js';
import type { ProgressReporter } from '../progress/events.js';
import { ParentPins, withPinnedParent, type PinnedFolder } from './confine.js';
import type { CopySettings, FileJob, FileResult } from './types.js';
import { copyXattrs, copyXattrsAt, passesAttributesOn, type AttributeProblem } from './xattrs.js';

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, COPYFILE_EXCL, COPYFILE_FICLONE } = fs.constants;
const SET_ID_BITS = 0o6000;
const SETGID = 0o2000;
const CHUNK = 1 << 20;
let chunk: Buffer | undefined;
/**
 * From this size on, dense files are copied by the kernel (fs.copyFile: a reflink where the filesystem
 * has them, else copy_file_range); smaller ones take one read and one write through a reused buffer,
 * fewer syscalls than libuv's copy. Measured side by side with cp -a (bench/, fresh ext4 per run):
 * 4 x 512 MiB went from 3.0x cp -a (1 MiB buffer loop, 1.65 s CPU) to 0.97x (0.71 s CPU); 200 files of
 * 1-50 MiB from 2.2x (threshold 8 MiB) to 1.4x (threshold 1 MiB).
 */
const KERNEL_COPY_MIN = 1 << 20;
const KERNEL_COPY_PROGRESS_MS = 100;
/**
 * Holes worth a spawn of cp (about 5-13 ms here): below this, reading the zeros costs less. It also keeps
 * files that merely look sparse (inline data, compressed extents, a few unallocated blocks) off cp.
 */
const SPARSE_BY_CP_MIN_HOLES = 16 << 20;

/**
 * A failure on the source side (reading it, or it changing underneath): reported under the source path.
 * Every other failure of a copy (creating, writing, renaming the temporary) is reported under dest's path,
 * so that a read-only dest folder is not mistaken for an unreadable source file.
 */
export class SourceError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class SourceChangedError extends SourceError {
  constructor(message: string) {
    super('ECHANGED', message);
  }
}

function failed(rel: RawPath, err: unknown): FileResult {
  return { rel, status: 'failed', side: err instanceof SourceError ? 'source' : 'dest', ...errorData(err) };
}

function readSource(fd: number, buffer: Buffer, length: number, position: number): number {
  try {
    return fs.readSync(fd, buffer, 0, length, position);
  } catch (err) {
    const { code, message } = errorData(err);
    throw new SourceError(code, message);
  }
}

/**
 * `pins`: the batch's pinned dest folders (consecutive files of one folder share the pin); without it the
 * file gets a pin of its own.
 */
export async function copyFile(job: FileJob, settings: CopySettings, progress: ProgressReporter, pins?: ParentPins): Promise<FileResult> {
  const ownPins = pins ?? new ParentPins();
  try {
    return await copyFileWith(job, settings, progress, ownPins);
  } finally {
    if (pins === undefined) ownPins.close();
  }
}

async function copyFileWith(job: FileJob, settings: CopySettings, progress: ProgressReporter, pins: ParentPins): Promise<FileResult> {
  let srcFd: number;
  try {
    srcFd = fs.openSync(fsPath(job.src), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT') return { rel: job.rel, status: 'vanished', code, message: 'vanished since the scan' };
    if (code === 'ELOOP') return { rel: job.rel, status: 'vanished', code: 'ECHANGED', message: 'became a symlink since the scan' };
    return { rel: job.rel, status: 'failed', side: 'source', ...errorData(err) };
  }
  try {
    const stat = fs.fstatSync(srcFd);
    if (!stat.isFile()) return { rel: job.rel, status: 'vanished', code: 'ECHANGED', message: 'is no longer a regular file' };
    if (job.skipIfSameContent && sameContent(srcFd, job.dst)) {
      const problems = withPinnedParent(job.dst, (dst) => {
        applyMetaAt(dst, stat, settings.keepOwner);
        return settings.xattrs ? copyXattrsAt(srcFd, dst) : [];
      });
      return { rel: job.rel, status: 'unchanged', ...withProblems(problems) };
    }
    return await copyWithOneRetry(srcFd, stat, job, settings, progress, pins);
  } catch (err) {
    return failed(job.rel, err);
  } finally {
    fs.closeSync(srcFd);
  }
}

async function copyWithOneRetry(srcFd: number, first: fs.Stats, job: FileJob, settings: CopySettings, progress: ProgressReporter, pins: ParentPins): Promise<FileResult> {
  let stat = first;
  for (let attempt = 1; ; attempt++) {
    try {
      const { pinned, folder } = pins.pin(job.dst);
      const { bytes, problems } = await copyToTemp(srcFd, stat, pinned, { ...settings, folder }, progress);
      const changedSinceScan = stat.size !== job.scanned.size || stat.mtimeMs !== job.scanned.mtimeMs;
      return { rel: job.rel, status: 'copied', bytes, changedSinceScan, ...withProblems(problems) };
    } catch (err) {
      if (!(err instanceof SourceChangedError) || attempt === 2) throw err;
      stat = fs.fstatSync(srcFd);
    }
  }
}

/** Most files have no attribute problem: no empty array per result crosses the thread boundary. */
function withProblems(problems: readonly AttributeProblem[]): { attributeProblems?: readonly AttributeProblem[] } {
  return problems.length === 0 ? {} : { attributeProblems: problems };
}

interface Copied {
  readonly bytes: number;
  readonly problems: readonly AttributeProblem[];
}

/** What an entry created in a folder starts with, beyond what the creating call says. */
interface NewEntryDefaults {
  /** Attributes of its own (a default ACL on the folder). */
  readonly attributes: boolean;
  /** The folder's group instead of ours (a setgid folder). */
  readonly folderGroup: boolean;
}

/** Asked once per pinned folder. Without a pin nothing is known: assume the worst of both. */
const defaultsByFolder = new WeakMap<PinnedFolder, NewEntryDefaults>();

function newEntryDefaults(folder: PinnedFolder | undefined): NewEntryDefaults {
  if (folder === undefined) return { attributes: true, folderGroup: true };
  let defaults = defaultsByFolder.get(folder);
  if (defaults === undefined) {
    defaults = { attributes: passesAttributesOn(folder.fd), folderGroup: (fs.fstatSync(folder.fd).mode & SETGID) !== 0 };
    defaultsByFolder.set(folder, defaults);
  }
  return defaults;
}

/**
 * Whether a file we create here already has the copy's final owner: ours, when owners are not kept or
 * the source's are ours, and the folder does not hand out its own group.
 */
function createdWithFinalOwner(meta: MetaSource, keepOwner: boolean, defaults: NewEntryDefaults): boolean {
  if (!keepOwner) return true;
  return meta.uid === ownUid && meta.gid === ownGid && !defaults.folderGroup;
}

/** Writes the copy under a temporary name and renames it into place. */
async function copyToTemp(srcFd: number, stat: fs.Stats, dst: RawPath, settings: CopySettings & { folder: PinnedFolder | undefined }, progress: ProgressReporter): Promise<Copied> {
  const unallocated = stat.size - stat.blocks * 512;
  const sparse = unallocated > 0;
  const inKernel = stat.size >= KERNEL_COPY_MIN && !sparse && !settings.verify && (stat.mode & SET_ID_BITS) === 0;
  const defaults = newEntryDefaults(settings.folder);
  const finalOwner = createdWithFinalOwner(stat, settings.keepOwner, defaults);
  // Created with its final permission bits when its owner is final too (nobody gains access early),
  // so that the chmod can be skipped; else private until its owner is set.
  const createMode = finalOwner && (stat.mode & SET_ID_BITS) === 0 ? stat.mode & 0o777 : 0o600;
  const { temp, fd: tempFd } = inKernel ? await copyInKernelToNewTemp(srcFd, dst, progress) : createTemp(dst, settings.verify, createMode);
  let problems: readonly AttributeProblem[];
  try {
    const hash = settings.verify ? createHash('sha256') : undefined;
    const byCp = unallocated >= SPARSE_BY_CP_MIN_HOLES && hash === undefined;
    const bytes = inKernel || (byCp && (await copySparse(srcFd, tempFd, progress)))
      ? fs.fstatSync(tempFd).size
      : copyContents(srcFd, tempFd, stat, sparse, progress, hash);
    const modeIsFinal = !inKernel && (createMode & ~UMASK) === (stat.mode & 0o7777);
    applyMeta(tempFd, stat, settings.keepOwner, { ownerIsFinal: finalOwner, modeIsFinal });
    problems = settings.xattrs ? copyXattrs(srcFd, tempFd, defaults.attributes ? 'existing' : 'fresh') : [];
    // Checked after the attributes were read: a change to them (or to the content) bumps ctime.
    const after = fs.fstatSync(srcFd);
    if (bytes !== after.size || after.size !== stat.size || after.mtimeMs !== stat.mtimeMs || after.ctimeMs !== stat.ctimeMs) {
      throw new SourceChangedError('changed while it was being copied');
    }
    if (hash !== undefined) verifyCopy(tempFd, bytes, hash.digest('hex'));
    fs.closeSync(tempFd);
  } catch (err) {
    fs.closeSync(tempFd);
    fs.rmSync(fsPath(temp), { force: true });
    throw err;
  }
  try {
    fs.renameSync(fsPath(temp), fsPath(dst));
  } catch (err) {
    fs.rmSync(fsPath(temp), { force: true });
    throw err;
  }
  progress.add(0, 1);
  return { bytes: stat.size, problems };
}

/** Created exclusively (never through a planted symlink), with `mode`: never wider than the final one. */
function createTemp(dst: RawPath, readBack: boolean, mode: number): { temp: RawPath; fd: number } {
  // --verify reads the copy back through this descriptor, so it must be readable too.
  const access = readBack ? O_RDWR : O_WRONLY;
  for (let attempt = 1; ; attempt++) {
    const temp = tempRelFor(dst);
    try {
      return { temp, fd: fs.openSync(fsPath(temp), access | O_CREAT | O_EXCL | O_NOFOLLOW, mode) };
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST' || attempt === 3) throw err;
    }
  }
}

/**
 * The kernel copies from the source descriptor already opened and checked, reopened through
 * /proc/self/fd so that no path can be swapped in. libuv creates the temporary itself, exclusively
 * (O_EXCL also refuses a planted symlink), with the source's permission bits (never wider than the final
 * mode; setuid/setgid files stay on the buffer loop, so no root-owned set-id temporary ever exists).
 * Handing libuv an already open temporary instead makes it truncate that file, and ext4 then flushes the
 * whole file on close: measured 510-670 ms instead of 140-210 ms for 512 MiB. The copy runs on libuv's
 * threadpool while this thread reports progress from the temporary's growing size.
 */
async function copyInKernelToNewTemp(srcFd: number, dst: RawPath, progress: ProgressReporter): Promise<{ temp: RawPath; fd: number }> {
  for (let attempt = 1; ; attempt++) {
    const temp = tempRelFor(dst);
    let reported = 0;
    const reportGrowth = () => {
      const size = fs.statSync(fsPath(temp), { throwIfNoEntry: false })?.size ?? 0;
      progress.add(size - reported);
      reported = size;
    };
    const poll = setInterval(reportGrowth, KERNEL_COPY_PROGRESS_MS);
    try {
      await fs.promises.copyFile(`/proc/self/fd/${srcFd}`, fsPath(temp), COPYFILE_EXCL | COPYFILE_FICLONE);
    } catch (err) {
      // EEXIST: that name belongs to someone else; anything else: remove what libuv may have created.
      if (errnoCode(err) !== 'EEXIST') fs.rmSync(fsPath(temp), { force: true });
      if (errnoCode(err) !== 'EEXIST' || attempt === 3) throw err;
      continue;
    } finally {
      clearInterval(poll);
    }
    reportGrowth();
    return { temp, fd: fs.openSync(fsPath(temp), O_RDWR | O_NOFOLLOW) };
  }
}

/**
 * A sparse source (fewer blocks allocated than its size needs) is copied by GNU cp, which finds the data
 * regions with SEEK_DATA/SEEK_HOLE and never reads a hole: Node has no lseek, and fs.copyFile
 * (copy_file_range) fills the holes (measured: a 5 GiB file holding 5 MiB took 23 s and 5 GiB of disk;
 * cp: 13 ms including the spawn, 5 MiB). cp gets both descriptors as stdin and stdout, so it reopens the
 * very source checked here and writes into the temporary created here (O_EXCL): no path is looked
 * up again. Returns false when cp cannot be run (not installed): the caller then reads the holes.
 */
async function copySparse(srcFd: number, tempFd: number, progress: ProgressReporter): Promise<boolean> {
  const outcome = await new Promise<{ code: number | null; stderr: string; spawnError?: string }>((resolve) => {
    const child = spawn('cp', ['--sparse=auto', '/dev/stdin', '/dev/stdout'], { stdio: [srcFd, tempFd, 'pipe'] });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.on('error', (err) => resolve({ code: null, stderr, spawnError: errnoCode(err) }));
    child.on('close', (code) => resolve({ code, stderr }));
  });
  if (outcome.spawnError === 'ENOENT') return false;
  if (outcome.code !== 0) {
    throw Object.assign(new Error(`sparse copy failed: ${outcome.stderr.trim() || outcome.spawnError || `cp exited with ${outcome.code}`}`), { code: 'ESPARSE' });
  }
  progress.add(fs.fstatSync(tempFd).size);
  return true;
}

/**
 * Reads from position 0 to end of file. A small file takes one read of size+1 bytes: a short read on a
 * regular file means end of file, and a file that grew meanwhile is caught by the fstat check after.
 * A sparse source not given to cp (small holes, --verify, which must hash what it reads, or no cp) keeps
 * its holes too, but they are read: all-zero chunks are skipped instead of written, the size set at the end.
 */
function copyContents(srcFd: number, dstFd: number, stat: fs.Stats, sparse: boolean, progress: ProgressReporter, hash: Hash | undefined): number {
  chunk ??= Buffer.allocUnsafe(CHUNK);
  let position = 0;
  for (;;) {
    const want = stat.size - position < CHUNK ? Math.min(CHUNK, stat.size - position + 1) : CHUNK;
    const read = readSource(srcFd, chunk, want, position);
    if (read === 0) break;
    const data = chunk.subarray(0, read);
    if (!(sparse && isAllZero(data))) writeFully(dstFd, data, position);
    hash?.update(data);
    position += read;
    progress.add(read);
    if (read < want) break;
  }
  if (sparse) fs.ftruncateSync(dstFd, position);
  return position;
}

let zeros: Buffer | undefined;

function isAllZero(data: Buffer): boolean {
  zeros ??= Buffer.alloc(CHUNK);
  return data.equals(zeros.subarray(0, data.length));
}


function verifyCopy(fd: number, size: number, expected: string): void {
  chunk ??= Buffer.allocUnsafe(CHUNK);
  const hash = createHash('sha256');
  for (let position = 0; position < size; ) {
    const read = fs.readSync(fd, chunk, 0, CHUNK, position);
    if (read === 0) break;
    hash.update(chunk.subarray(0, read));
    position += read;
  }
  if (hash.digest('hex') !== expected) {
    throw Object.assign(new Error('verification failed: the copy does not read back as written'), { code: 'EVERIFY' });
  }
}

function sameContent(srcFd: number, dst: RawPath): boolean {
  let dstFd: number;
  try {
    dstFd = fs.openSync(fsPath(dst), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch {
    return false;
  }
  try {
    const ours = Buffer.allocUnsafe(CHUNK);
    const theirs = Buffer.allocUnsafe(CHUNK);
    for (let position = 0; ; position += CHUNK) {
      const a = readSource(srcFd, ours, CHUNK, position);
      const b = fs.readSync(dstFd, theirs, 0, CHUNK, position);
      if (a !== b || !ours.subarray(0, a).equals(theirs.subarray(0, b))) return false;
      if (a === 0) return true;
    }
  } finally {
    fs.closeSync(dstFd);
  }
}

const ownUid = process.getuid?.() ?? -1;
const ownGid = process.getgid?.() ?? -1;
/** Read once: what creating a file with a mode takes away from it. */
const UMASK = process.umask();

/**
 * Owner first: chown clears setuid/setgid bits, so the mode must come after it. For a file just created,
 * `created` says what it already has right (its owner, its mode): one syscall less per file for each.
 */
export function applyMeta(fd: number, meta: MetaSource, keepOwner: boolean, created?: { ownerIsFinal: boolean; modeIsFinal: boolean }): void {
  if (keepOwner && created?.ownerIsFinal !== true) fs.fchownSync(fd, meta.uid, meta.gid);
  if (created?.modeIsFinal !== true) fs.fchmodSync(fd, meta.mode & 0o7777);
  fs.futimesSync(fd, meta.atimeMs / 1000, meta.mtimeMs / 1000);
}

export interface MetaSource {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly atimeMs: number;
  readonly mtimeMs: number;
}

/**
 * Metadata on an existing dest entry, through a descriptor opened without following links so that a
 * symlink planted at the path is never written through. A file we may not open (mode 0) falls back to
 * the path calls, which do not need read access.
 */
export function applyMetaAt(path: RawPath, meta: MetaSource, keepOwner: boolean): void {
  let fd: number;
  try {
    fd = fs.openSync(fsPath(path), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (err) {
    if (errnoCode(err) !== 'EACCES') throw err;
    if (keepOwner) fs.lchownSync(fsPath(path), meta.uid, meta.gid);
    fs.chmodSync(fsPath(path), meta.mode & 0o7777);
    fs.utimesSync(fsPath(path), meta.atimeMs / 1000, meta.mtimeMs / 1000);
    return;
  }
  try {
    applyMeta(fd, meta, keepOwner);
  } finally {
    fs.closeSync(fd);
  }
}
