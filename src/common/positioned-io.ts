/** Positioned writes for worker threads (synchronous: they run off the main thread). */
import fs from 'node:fs';

/** writeSync may write less than asked (signals, some filesystems): loop until every byte is at `position`. */
export function writeFully(fd: number, data: Buffer, position: number): void {
  let written = 0;
  while (written < data.length) written += fs.writeSync(fd, data, written, data.length - written, position + written);
}
