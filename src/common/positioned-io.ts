/** Positioned reads and writes that finish the job (synchronous: for worker threads and bounded spills). */
import fs from 'node:fs';

/** writeSync may write less than asked (signals, some filesystems): loop until every byte is at `position`. */
export function writeFully(fd: number, data: Uint8Array, position: number): void {
  let written = 0;
  while (written < data.length) written += fs.writeSync(fd, data, written, data.length - written, position + written);
}

/**
 * readSync may return less than asked: loop until `into` is full. A file that ends first throws
 * `shortRead()`: what that means (a source that shrank, a temporary cut short) is the caller's to say.
 */
export function readFully(fd: number, into: Uint8Array, position: number, shortRead: () => Error): void {
  for (let filled = 0; filled < into.length; ) {
    const read = fs.readSync(fd, into, filled, into.length - filled, position + filled);
    if (read === 0) throw shortRead();
    filled += read;
  }
}
