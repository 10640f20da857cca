/**
 * Failed paths are tried again later, waiting twice as long after each failure in a row (1 s up to
 * 10 min): a full disk or an unreadable file must not make the daemon spin, nor be given up on.
 */
import type { RawPath } from '../common/raw-path.js';

const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 10 * 60_000;

export class RetrySchedule {
  private readonly failuresInARow = new Map<RawPath, number>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly retry: (rels: RawPath[]) => void) {}

  /** Schedules another try of `rels`; returns the delay. */
  failed(rels: readonly RawPath[]): number {
    let count = 0;
    for (const rel of rels) count = Math.max(count, (this.failuresInARow.get(rel) ?? 0) + 1);
    for (const rel of rels) this.failuresInARow.set(rel, count);
    const delay = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** (count - 1));
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.retry([...rels]);
    }, delay);
    this.timers.add(timer);
    return delay;
  }

  /** Whether some path failed and has not succeeded since. */
  get outstanding(): boolean {
    return this.failuresInARow.size > 0;
  }

  succeeded(rels: readonly RawPath[]): void {
    for (const rel of rels) this.failuresInARow.delete(rel);
  }

  /** Some path failed and has not succeeded since. */
  get hasFailures(): boolean {
    return this.failuresInARow.size > 0;
  }

  clear(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.failuresInARow.clear();
  }
}
