/**
 * An upper bound on the read rate (--limit-rate): each block starts no earlier than the byte budget
 * allows, so a transfer from a shared disk or a network mount leaves bandwidth for others.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

export class RateLimit {
  /** When, on the performance clock, the budget allows the next byte. */
  private next = performance.now();

  constructor(private readonly bytesPerSecond: number) {}

  /** Waits until `bytes` more may be read. */
  async take(bytes: number): Promise<void> {
    const now = performance.now();
    const start = Math.max(now, this.next);
    this.next = start + (bytes * 1000) / this.bytesPerSecond;
    if (start > now) await sleep(start - now);
  }
}
