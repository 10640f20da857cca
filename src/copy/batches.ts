/**
 * Groups files into pool tasks. A pool round trip costs far more than copying a 4 KiB file, so small
 * files travel in batches; a large file travels alone so that the threads stay evenly loaded.
 */
export const LARGE_FILE = 8 << 20;
const MAX_BATCH_BYTES = 32 << 20;
const MAX_BATCH_FILES = 256;
const MIN_BATCH_FILES = 8;

export interface Sized {
  readonly size: number;
}

/**
 * Batches of at most MAX_BATCH_FILES files and MAX_BATCH_BYTES, but small enough that each thread gets
 * several (a thread that draws the last big batch must not keep the others waiting).
 */
export function makeBatches<T extends Sized>(files: readonly T[], threads: number): T[][] {
  const smallCount = files.reduce((n, f) => (f.size < LARGE_FILE ? n + 1 : n), 0);
  const perBatch = Math.min(MAX_BATCH_FILES, Math.max(MIN_BATCH_FILES, Math.ceil(smallCount / (threads * 4))));
  const batches: T[][] = [];
  let current: T[] = [];
  let currentBytes = 0;
  for (const file of files) {
    if (file.size >= LARGE_FILE) {
      batches.push([file]);
      continue;
    }
    if (current.length === perBatch || currentBytes + file.size > MAX_BATCH_BYTES) {
      batches.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(file);
    currentBytes += file.size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
