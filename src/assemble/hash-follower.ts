/**
 * The sha256 of the result, computed while it is assembled: blocks complete out of order, but the hash
 * needs them in order, so this follows the done prefix of the .part and has a worker thread
 * (hash-worker.ts) read each block back (from the page cache, normally) as soon as it and all before it
 * are done. Hashing 1 GiB costs about as long as copying it; after the transfer only the tail is left.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import type { RawPath } from '../common/raw-path.js';
import { createPool } from '../common/worker-pool.js';
import type { HashMessage, HashTask } from './types.js';

export interface HashFollowerOptions {
  readonly part: RawPath;
  readonly size: number;
  readonly blockSize: number;
  /** Whether a block's bytes are written; a done block is never written again. */
  readonly isDone: (block: number) => boolean;
}

interface Running {
  readonly pool: Piscina;
  readonly port: MessagePort;
  readonly digest: Promise<string>;
}

export class HashFollower {
  /** Blocks before this one are done and announced. */
  private prefix = 0;
  private running: Running | undefined;

  constructor(private readonly options: HashFollowerOptions) {}

  /** A block completed: announce the done prefix if it grew (the worker starts on the first call). */
  advance(): void {
    const { size, blockSize, isDone } = this.options;
    const blockCount = Math.ceil(size / blockSize);
    const before = this.prefix;
    while (this.prefix < blockCount && isDone(this.prefix)) this.prefix++;
    if (this.prefix > before) this.send({ upTo: Math.min(size, this.prefix * blockSize), end: false });
  }

  /** The hex digest; call once every block is done. */
  async digest(): Promise<string> {
    this.advance();
    const running = this.send({ upTo: this.options.size, end: true });
    try {
      return await running.digest;
    } finally {
      this.running = undefined;
      await running.pool.destroy();
    }
  }

  /** The run ended without every block: stop the worker, no digest. */
  async cancel(): Promise<void> {
    const running = this.running;
    if (running === undefined) return;
    this.running = undefined;
    running.port.close();
    await running.pool.destroy();
  }

  private send(message: HashMessage): Running {
    this.running ??= this.start();
    this.running.port.postMessage(message);
    return this.running;
  }

  private start(): Running {
    const pool = createPool('assemble/hash-worker.js', 1);
    const { port1, port2 } = new MessageChannel();
    const task: HashTask = { part: this.options.part, port: port2 };
    const digest = pool.run(task, { transferList: [port2] }) as Promise<string>;
    // An error surfaces in digest(); until then it must not be an unhandled rejection.
    digest.catch(() => undefined);
    return { pool, port: port1, digest };
  }
}
