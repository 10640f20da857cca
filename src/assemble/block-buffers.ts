/**
 * Block-sized buffers for the blocks of buffered (remote) sources, reused from block to block: a fresh
 * buffer per block, or a list of the socket's chunks kept for as long as a block takes, costs page faults
 * and garbage-collector work for every byte; a reused one costs neither. It holds as many buffers as were
 * ever lent at once (each slot's block in flight, and the one it may still be writing).
 */
export class BlockBuffers {
  private readonly free: Buffer[] = [];

  constructor(private readonly blockSize: number) {}

  /** `length` bytes (at most a block), uninitialised, until given back. */
  lend(length: number): Buffer {
    const buffer = this.free.pop() ?? Buffer.allocUnsafeSlow(this.blockSize);
    return buffer.subarray(0, length);
  }

  /** A buffer lent before (or a view of it) is free again; nothing may use it any more. */
  giveBack(view: Buffer): void {
    this.free.push(Buffer.from(view.buffer, 0, this.blockSize));
  }
}
