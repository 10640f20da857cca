/**
 * How fast each source delivers, measured, not assumed: the per-connection rate of its finished blocks
 * (an exponential average, so a mirror that slows down is noticed within a few blocks) and the bytes of
 * the last second for the progress bar. Decisions made from it live in the assembler's claim policy.
 */
import { performance } from 'node:perf_hooks';

/** Weight of the newest block in the average: a few blocks are enough to follow a change. */
const SMOOTHING = 0.3;
const BAR_WINDOW_MS = 1000;

export class Throughput {
  /** Bytes per ms of one connection (one block at a time), or undefined before a block finished. */
  private perSlot: number | undefined;
  private windowStart = performance.now();
  private windowBytes = 0;
  private shown = 0;

  /** Bytes arrived (negative when a failed attempt is taken back; the bar rate ignores those). */
  add(bytes: number): void {
    if (bytes > 0) this.windowBytes += bytes;
  }

  blockDone(bytes: number, elapsedMs: number): void {
    const sample = bytes / Math.max(1, elapsedMs);
    this.perSlot = this.perSlot === undefined ? sample : this.perSlot + SMOOTHING * (sample - this.perSlot);
  }

  /** Per-connection bytes/ms, if known. */
  get slotRate(): number | undefined {
    return this.perSlot;
  }

  /** Bytes per second over about the last second, for the bar. */
  barRate(now = performance.now()): number {
    const elapsed = now - this.windowStart;
    if (elapsed >= BAR_WINDOW_MS) {
      this.shown = (this.windowBytes * 1000) / elapsed;
      this.windowStart = now;
      this.windowBytes = 0;
    }
    return this.shown;
  }
}
