/**
 * Pool entry for the result's sha256: one long task per assembly that reads the .part's done prefix as
 * the main thread announces it grows ({upTo}) and hashes it, then returns the digest ({end}). On its own
 * thread, hashing overlaps the transfer instead of competing with it for the event loop (HTTP bodies
 * are read there) or for the block pool's threads.
 */
import { createHash } from 'node:crypto';
import { on } from 'node:events';
import fs from 'node:fs';
import { fsPath } from '../common/raw-path.js';
import type { HashMessage, HashTask } from './types.js';

const CHUNK = 1 << 20;

export default async function hashPrefix(task: HashTask): Promise<string> {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(CHUNK);
  const fd = fs.openSync(fsPath(task.part), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  let hashed = 0;
  try {
    for await (const [message] of on(task.port, 'message') as AsyncIterable<[HashMessage]>) {
      for (; hashed < message.upTo; ) {
        const read = fs.readSync(fd, buffer, 0, Math.min(CHUNK, message.upTo - hashed), hashed);
        if (read === 0) throw Object.assign(new Error('the .part ended early'), { code: 'ESHORTREAD' });
        hash.update(buffer.subarray(0, read));
        hashed += read;
      }
      if (message.end) break;
    }
  } finally {
    fs.closeSync(fd);
    task.port.close();
  }
  return hash.digest('hex');
}
