/**
 * Copies one block: a positioned read from a source, a positioned write at the same offset into the .part.
 *
 * Runs inside a worker thread with synchronous fs calls (blocking is free there and stays off libuv's
 * small shared thread pool). The source is opened with O_NOFOLLOW | O_NONBLOCK, so a symlink or FIFO
 * swapped in for it is never read through or waited on, and its size and mtime are checked on the
 * descriptor before and after the read: a copy written to or truncated since the start is not the file
 * being assembled any more, and bytes read while it changed are not trusted (a truncate racing the read
 * can hand back zeros from a large folio it is cutting).
 */
import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import { errorData, type ErrorData } from '../common/errors.js';
import { writeFully } from '../common/positioned-io.js';
import { fsPath } from '../common/raw-path.js';
import type { ProgressReporter } from '../progress/events.js';
import type { BlockJob, BlockResult, SourceVersion } from './types.js';

const { O_RDONLY, O_WRONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
const CHUNK = 1 << 20;
/** One buffer per thread, reused by every block: a block never needs more than a chunk in memory. */
let chunk: Buffer | undefined;

type Side = 'source' | 'output';

class SideError extends Error {
  constructor(
    readonly side: Side,
    readonly data: ErrorData,
  ) {
    super(data.message);
  }
}

/** Runs `io`, labelling any error with the side it came from: the assembler blames sources and output differently. */
function on<T>(side: Side, io: () => T): T {
  try {
    return io();
  } catch (err) {
    throw err instanceof SideError ? err : new SideError(side, errorData(err));
  }
}

export function copyBlock(job: BlockJob, progress: ProgressReporter): BlockResult {
  const counter = { bytesRead: 0 };
  const descriptors: number[] = [];
  try {
    const src = on('source', () => openSource(job));
    descriptors.push(src);
    const out = on('output', () => fs.openSync(fsPath(job.part), O_WRONLY | O_NOFOLLOW));
    descriptors.push(out);
    const hash = job.hash === undefined ? undefined : createHash(job.hash);
    copyRange(src, out, job, { counter, progress, hash });
    on('source', () => expectVersion(src, job.sourceVersion));
    return { status: 'done', bytesRead: counter.bytesRead, sha256: hash?.digest('hex') ?? '' };
  } catch (err) {
    const { side, data } = err instanceof SideError ? err : new SideError('source', errorData(err));
    return { status: 'failed', side, ...data, bytesRead: counter.bytesRead };
  } finally {
    for (const fd of descriptors) fs.closeSync(fd);
  }
}

function openSource(job: BlockJob): number {
  const fd = fs.openSync(fsPath(job.source), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  try {
    expectVersion(fd, job.sourceVersion);
    return fd;
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

/** Throws ECHANGED unless the open source still has the size and mtime it had at the start. */
export function expectVersion(fd: number, version: SourceVersion): void {
  const stat = fs.fstatSync(fd);
  if (stat.isFile() && stat.size === version.size && stat.mtimeMs === version.mtimeMs) return;
  const now = !stat.isFile() ? 'not a regular file' : stat.size !== version.size ? `${stat.size} bytes` : 'modified';
  throw Object.assign(new Error(`changed since the start: now ${now}`), { code: 'ECHANGED' });
}

interface CopyTally {
  readonly counter: { bytesRead: number };
  readonly progress: ProgressReporter;
  /** Of the bytes written, on this thread: verifying a piece then costs the main thread nothing. */
  readonly hash: Hash | undefined;
}

function copyRange(src: number, out: number, job: BlockJob, { counter, progress, hash }: CopyTally): void {
  chunk ??= Buffer.allocUnsafe(CHUNK);
  const buffer = chunk;
  for (let done = 0; done < job.length; ) {
    const want = Math.min(CHUNK, job.length - done);
    const position = job.offset + done;
    const read = on('source', () => fs.readSync(src, buffer, 0, want, position));
    if (read === 0) {
      throw new SideError('source', { code: 'ESHORTREAD', message: `ended at byte ${position}, expected ${job.sourceVersion.size}` });
    }
    counter.bytesRead += read;
    on('output', () => writeFully(out, buffer.subarray(0, read), position));
    hash?.update(buffer.subarray(0, read));
    done += read;
    progress.add(read);
  }
}

