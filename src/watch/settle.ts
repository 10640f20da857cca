/**
 * Coalesces change notices into settled batches: a path is ready once no notice has arrived for it for
 * `settleMs`, and every path that is ready at the same moment goes out in one batch. A burst of notices
 * for one path therefore costs one copy, and a file still being written is not copied until it is quiet.
 *
 * One timer serves all paths: the map is kept in order of last notice (a notice moves its path to the
 * end), so the ready paths are always at the front and a flush never scans the ones still settling.
 * Notices that arrive in one turn of the event loop share one timestamp, so they settle together
 * (read separately, the clock moves between them and a timer that fires on the first would split them).
 */
import { performance } from 'node:perf_hooks';
import type { RawPath } from '../common/raw-path.js';

export class Settler {
  private readonly lastNotice = new Map<RawPath, number>();
  private timer: NodeJS.Timeout | undefined;
  private turnStartedAt: number | undefined;

  constructor(
    private readonly settleMs: number,
    private readonly onReady: (rels: RawPath[]) => void,
  ) {}

  notice(rel: RawPath): void {
    this.lastNotice.delete(rel);
    this.lastNotice.set(rel, this.now());
    this.timer ??= setTimeout(() => this.flush(), this.settleMs);
  }

  /** A notice for `rel` has not yet been quiet for the settle time. */
  has(rel: RawPath): boolean {
    return this.lastNotice.has(rel);
  }

  /** Paths still settling. */
  get size(): number {
    return this.lastNotice.size;
  }

  /** The paths still settling, oldest notice first. */
  settling(): RawPath[] {
    return [...this.lastNotice.keys()];
  }

  /** Forgets every path that is still settling (shutdown, restart of the watch). */
  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.lastNotice.clear();
  }

  private now(): number {
    if (this.turnStartedAt === undefined) {
      this.turnStartedAt = performance.now();
      queueMicrotask(() => (this.turnStartedAt = undefined));
    }
    return this.turnStartedAt;
  }

  private flush(): void {
    this.timer = undefined;
    const now = performance.now();
    const ready: RawPath[] = [];
    for (const [rel, at] of this.lastNotice) {
      const waitMs = at + this.settleMs - now;
      if (waitMs > 0) {
        this.timer = setTimeout(() => this.flush(), waitMs);
        break;
      }
      ready.push(rel);
    }
    for (const rel of ready) this.lastNotice.delete(rel);
    if (ready.length > 0) this.onReady(ready);
  }
}
