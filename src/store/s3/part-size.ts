/** S3's multipart limits: at most 10,000 parts of 5 MiB – 5 GiB (the last one may be smaller). */
const MiB = 1024 * 1024;
const MIN_PART = 5 * MiB;
const MAX_PARTS = 10_000;
/** Parts this size keep a few in flight cheap in memory and are few enough per file to cost few requests. */
const PREFERRED_PART = 16 * MiB;

/** Files up to this size go in one PutObject (one request, Content-MD5 checked by the store). */
export const SINGLE_PUT_MAX = 32 * MiB;

/** The part size for a file of `size` bytes: 16 MiB, or the smallest whole MiB that fits 10,000 parts. */
export function partSizeFor(size: number): number {
  const needed = Math.ceil(size / MAX_PARTS / MiB) * MiB;
  return Math.max(MIN_PART, PREFERRED_PART, needed);
}
