/**
 * The sha256 of the result, computed while it is assembled: blocks complete out of order, but the hash
 * needs them in order, so this follows the done prefix of the .part and reads each block back (from the
 * page cache, normally) as soon as it and all before it are done. Hashing 1 GiB costs about as long as
 * copying it; after the transfer, only the tail is left to hash.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { fsPath, type RawPath } from '../common/raw-path.js';

const CHUNK = 1 << 20;

export interface HashFollowerOptions {
  readonly part: RawPath;
  readonly size: number;
  readonly blockSize: number;
  /** Whether a block's bytes are written; a done block is never written again. */
  readonly isDone: (block: number) => boolean;
}

export class HashFollower {
  private readonly hash = createHash('sha256');
  private readonly buffer = Buffer.allocUnsafe(CHUNK);
  /** Bytes hashed so far: always the end of a done prefix. */
  private hashed = 0;
  private draining: Promise<void> | undefined;

  constructor(private readonly options: HashFollowerOptions) {}

  /**
   * A block completed: hash what is now contiguous, in the background, one drain at a time. A completion
   * during a drain is picked up by that drain's loop or by the next call; digest() drains the rest.
   */
  advance(): void {
    if (this.draining !== undefined) return;
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
    });
    // An error surfaces in digest(); until then it must not be an unhandled rejection.
    this.draining.catch(() => undefined);
  }

  /** The hex digest; call once every block is done. */
  async digest(): Promise<string> {
    await this.draining;
    await this.drain();
    return this.hash.digest('hex');
  }

  private async drain(): Promise<void> {
    const { part, size, blockSize, isDone } = this.options;
    const handle = await fs.promises.open(fsPath(part), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      while (this.hashed < size && isDone(Math.floor(this.hashed / blockSize))) {
        const blockEnd = Math.min(size, (Math.floor(this.hashed / blockSize) + 1) * blockSize);
        const { bytesRead } = await handle.read(this.buffer, 0, Math.min(CHUNK, blockEnd - this.hashed), this.hashed);
        if (bytesRead === 0) throw Object.assign(new Error('the .part ended early'), { code: 'ESHORTREAD' });
        this.hash.update(this.buffer.subarray(0, bytesRead));
        this.hashed += bytesRead;
      }
    } finally {
      await handle.close();
    }
  }
}
