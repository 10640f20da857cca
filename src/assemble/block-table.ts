/**
 * The block table: which blocks are pending, in flight or done, and which sources already failed which
 * block. Pure logic, no I/O; lives on the main thread.
 *
 * Every transition runs under a mutex. Today each one is synchronous, but the callers interleave them
 * with awaits (a pool task, a state save); the mutex makes "claim, then mark in flight" and "complete,
 * then snapshot" atomic no matter what a later change adds inside them, so a block is never handed out
 * twice and a snapshot never holds a block whose bytes are not written yet.
 *
 * Failover rules:
 *  - a failed block goes back to pending and is never offered again to the source that failed it;
 *  - a source that fails `maxFailures` blocks in a row, or is gone, is dropped;
 *  - a block that every remaining source has failed is unavailable: the run ends without it.
 */
import { Mutex } from '../common/semaphore.js';

export type SourceId = number;

/** What a source gets when it asks for work. */
export type ClaimResult =
  | { readonly kind: 'block'; readonly block: number }
  /**
   * Nothing for this source now, but a block in flight elsewhere may fail and come back: ask again once
   * `changed` resolves. Registered inside the claim, so a transition right after it cannot be missed.
   */
  | { readonly kind: 'wait'; readonly changed: Promise<void> }
  /** Nothing for this source, ever: it is dropped, the run is stopped, or all is done or unavailable to it. */
  | { readonly kind: 'none' };

export interface BlockTableOptions {
  readonly blockCount: number;
  readonly sourceCount: number;
  /** Blocks already done (from a resume state). */
  readonly done?: Iterable<number>;
  /** Consecutive failures after which a source is dropped. */
  readonly maxFailures?: number;
}

const PENDING = 0;
const IN_FLIGHT = 1;
const DONE = 2;

export class BlockTable {
  private readonly mutex = new Mutex();
  private readonly state: Uint8Array;
  /** Sources that failed a block; only failed blocks have an entry. */
  private readonly tried = new Map<number, Set<SourceId>>();
  /** Failed blocks waiting for another source, in block order of their return. */
  private readonly retry: number[] = [];
  /** Blocks below this index were handed out at least once (or were done from the start). */
  private cursor = 0;
  private inFlight = 0;
  private doneCount = 0;
  private stopped = false;
  private readonly failuresInARow: number[];
  private readonly dropped = new Set<SourceId>();
  private readonly maxFailures: number;
  private waiters: (() => void)[] = [];

  constructor(options: BlockTableOptions) {
    this.state = new Uint8Array(options.blockCount);
    for (const block of options.done ?? []) {
      if (this.state[block] !== DONE) this.doneCount++;
      this.state[block] = DONE;
    }
    this.failuresInARow = new Array<number>(options.sourceCount).fill(0);
    this.maxFailures = options.maxFailures ?? 3;
  }

  get blockCount(): number {
    return this.state.length;
  }

  get allDone(): boolean {
    return this.doneCount === this.state.length;
  }

  claim(source: SourceId): Promise<ClaimResult> {
    return this.mutex.run(() => this.claimNow(source));
  }

  /** Call only once the block's bytes are written: the done-set is what a resume trusts. */
  complete(block: number, source: SourceId): Promise<void> {
    return this.mutex.run(() => {
      this.expectInFlight(block);
      this.state[block] = DONE;
      this.doneCount++;
      this.inFlight--;
      this.tried.delete(block);
      this.failuresInARow[source] = 0;
      this.notify();
    });
  }

  /**
   * The source could not provide the block: it goes back to pending for the others. Returns whether this
   * dropped the source (it is gone, or this was one failure too many).
   */
  fail(block: number, source: SourceId, sourceGone = false): Promise<{ dropped: boolean }> {
    return this.mutex.run(() => {
      this.backToPending(block);
      const tried = this.tried.get(block) ?? new Set<SourceId>();
      tried.add(source);
      this.tried.set(block, tried);
      const failures = (this.failuresInARow[source] ?? 0) + 1;
      this.failuresInARow[source] = failures;
      const dropNow = !this.dropped.has(source) && (sourceGone || failures >= this.maxFailures);
      if (dropNow) this.dropped.add(source);
      this.notify();
      return { dropped: dropNow };
    });
  }

  /** The block could not be written (not the source's fault): it goes back to pending untouched. */
  release(block: number): Promise<void> {
    return this.mutex.run(() => {
      this.backToPending(block);
      this.notify();
    });
  }

  /** No block is handed out any more (disk full, write error); blocks in flight may still complete. */
  stop(): Promise<void> {
    return this.mutex.run(() => {
      this.stopped = true;
      this.notify();
    });
  }

  /** The done blocks, ascending; taken under the mutex so it is never half-updated. */
  doneBlocks(): Promise<number[]> {
    return this.mutex.run(() => this.doneNow());
  }

  /** Outside the mutex on purpose: a block's move to done is one synchronous step, and done is final. */
  isDone(block: number): boolean {
    return this.state[block] === DONE;
  }

  isDropped(source: SourceId): boolean {
    return this.dropped.has(source);
  }

  /** Pending blocks that no remaining source may try: what a failed run is missing. */
  unavailableBlocks(): number[] {
    const result: number[] = [];
    for (let block = 0; block < this.state.length; block++) {
      if (this.state[block] !== DONE && !this.anySourceMayTry(block)) result.push(block);
    }
    return result;
  }

  private claimNow(source: SourceId): ClaimResult {
    if (this.stopped || this.dropped.has(source)) return { kind: 'none' };
    const retried = this.retry.findIndex((block) => !this.tried.get(block)?.has(source));
    if (retried !== -1) {
      const [block] = this.retry.splice(retried, 1) as [number];
      return this.handOut(block);
    }
    while (this.cursor < this.state.length && this.state[this.cursor] !== PENDING) this.cursor++;
    if (this.cursor < this.state.length) return this.handOut(this.cursor++);
    // A block in flight elsewhere may still fail and become this source's to try.
    return this.inFlight > 0 ? { kind: 'wait', changed: this.nextChange() } : { kind: 'none' };
  }

  private handOut(block: number): ClaimResult {
    this.state[block] = IN_FLIGHT;
    this.inFlight++;
    return { kind: 'block', block };
  }

  private backToPending(block: number): void {
    this.expectInFlight(block);
    this.state[block] = PENDING;
    this.inFlight--;
    this.retry.push(block);
  }

  private expectInFlight(block: number): void {
    if (this.state[block] !== IN_FLIGHT) throw new Error(`block ${block} is not in flight`);
  }

  private anySourceMayTry(block: number): boolean {
    const tried = this.tried.get(block);
    for (let source = 0; source < this.failuresInARow.length; source++) {
      if (!this.dropped.has(source) && !tried?.has(source)) return true;
    }
    return false;
  }

  private doneNow(): number[] {
    const done: number[] = [];
    for (let block = 0; block < this.state.length; block++) if (this.state[block] === DONE) done.push(block);
    return done;
  }

  /** Resolves at the next transition (a completion, a failure, a release, a stop). */
  private nextChange(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
