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
 *  - a failed block goes back to pending and is not offered again to the source that failed it while
 *    another source may still try it;
 *  - a source that fails `maxFailures` blocks in a row, sends `maxFailures` bad blocks in all, or is
 *    gone, is dropped;
 *  - a block that every remaining source has failed goes round them again; once every source is
 *    dropped, what is not done is unavailable and the run ends without it;
 *  - a source held back from fresh blocks (ClaimPolicy.fresh) still takes failed ones: some source may
 *    claim every pending block, so the table never waits with nothing in flight.
 *
 * Endgame: once nothing is pending, a source may be given a block already in flight elsewhere (at most
 * MAX_COPIES holders); the first copy to complete wins, the others are told they lost.
 */
import { Mutex } from '../common/semaphore.js';

export type SourceId = number;

/** What a source gets when it asks for work. */
export type ClaimResult =
  /** `duplicate`: the block is in flight elsewhere too (endgame); only the first copy counts. */
  | { readonly kind: 'block'; readonly block: number; readonly duplicate: boolean }
  /**
   * Nothing for this source now, but a block in flight elsewhere may fail and come back: ask again once
   * `changed` resolves. Registered inside the claim, so a transition right after it cannot be missed.
   */
  | { readonly kind: 'wait'; readonly changed: Promise<void> }
  /** Nothing for this source, ever: it is dropped, the run is stopped, or all is done or unavailable to it. */
  | { readonly kind: 'none' };

/** What the caller allows this claim; the table stays pure, the caller measures. */
export interface ClaimPolicy {
  /**
   * May take a block no one has tried yet (a slow source near the end is better kept off the last
   * blocks). A block another source failed is offered regardless: the faster sources this one is held
   * back for may be the very ones that failed it (a mirror sending bad blocks is often the fastest),
   * and two held-back sources would otherwise wait for each other forever. Should it turn out slow,
   * the endgame duplicates it.
   */
  readonly fresh: boolean;
  /** Once nothing is pending: how much duplicating an in-flight block would gain (higher first), or undefined if it may not. */
  readonly duplicate?: (block: number) => number | undefined;
}

const FRESH_ONLY: ClaimPolicy = { fresh: true };
/** Holders of one block at most: one slow copy and one that races it. */
const MAX_COPIES = 2;

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
  /** Sources fetching each in-flight block; more than one only in the endgame. */
  private readonly holders = new Map<number, Set<SourceId>>();
  private readonly badBlocks: number[];
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
    this.badBlocks = new Array<number>(options.sourceCount).fill(0);
    this.maxFailures = options.maxFailures ?? 3;
  }

  get blockCount(): number {
    return this.state.length;
  }

  /** Blocks neither done nor in flight. */
  get pendingCount(): number {
    return this.state.length - this.doneCount - this.inFlight;
  }

  get allDone(): boolean {
    return this.doneCount === this.state.length;
  }

  claim(source: SourceId, policy: ClaimPolicy = FRESH_ONLY): Promise<ClaimResult> {
    return this.mutex.run(() => this.claimNow(source, policy));
  }

  /**
   * Call only once the block's bytes are written: the done-set is what a resume trusts. The first holder
   * to complete wins; `losers` are the other holders, whose copies are now useless. A copy completing
   * after the winner did not win (`won: false`) and changes nothing.
   */
  complete(block: number, source: SourceId): Promise<{ won: boolean; losers: SourceId[] }> {
    return this.mutex.run(() => {
      if (this.state[block] === DONE) return { won: false, losers: [] };
      const holders = this.expectHolder(block, source);
      this.state[block] = DONE;
      this.doneCount++;
      this.inFlight--;
      this.holders.delete(block);
      this.tried.delete(block);
      this.failuresInARow[source] = 0;
      this.notify();
      return { won: true, losers: [...holders].filter((other) => other !== source) };
    });
  }

  /**
   * The source could not provide the block: it goes back to pending for the others (unless another
   * holder is still at it). Returns whether this dropped the source (it is gone, or one failure too many).
   */
  fail(block: number, source: SourceId, sourceGone = false): Promise<{ dropped: boolean }> {
    return this.mutex.run(() => this.failNow(block, source, sourceGone, false));
  }

  /** The source sent bytes that are not the block (a piece hash mismatch): a failure that is also counted against it. */
  blame(block: number, source: SourceId): Promise<{ dropped: boolean }> {
    return this.mutex.run(() => this.failNow(block, source, false, true));
  }

  /**
   * The source gives the block back without blame: it lost the endgame race, was told to wait, or the
   * block could not be written. Back to pending unless another holder is still at it.
   */
  release(block: number, source: SourceId): Promise<void> {
    return this.mutex.run(() => {
      if (this.state[block] === DONE) return;
      this.letGo(block, source);
      this.notify();
    });
  }

  /**
   * Takes one given block for a source that can only read the file in order (a server without ranges).
   * False when it is done already, or held.
   */
  claimExact(block: number, source: SourceId): Promise<boolean> {
    return this.mutex.run(() => {
      if (this.stopped || this.state[block] !== PENDING) return false;
      const retried = this.retry.indexOf(block);
      if (retried !== -1) this.retry.splice(retried, 1);
      this.handOut(block, source);
      return true;
    });
  }

  /** A source that joins the run after the start (it was busy then); returns its id, the next one. */
  addSource(): SourceId {
    this.failuresInARow.push(0);
    this.badBlocks.push(0);
    return this.failuresInARow.length - 1;
  }

  /** Drops a source that is no use any more, whatever it holds (its blocks come back as it lets go of them). */
  drop(source: SourceId): Promise<void> {
    return this.mutex.run(() => {
      this.dropped.add(source);
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

  private claimNow(source: SourceId, policy: ClaimPolicy): ClaimResult {
    if (this.stopped || this.dropped.has(source)) return { kind: 'none' };
    // A block every remaining source has failed may be tried again by them (a stall or a reset is often
    // passing); the failures in a row still drop a source for which it keeps failing.
    let retried = this.retry.findIndex((block) => !this.tried.get(block)?.has(source));
    if (retried === -1) retried = this.retry.findIndex((block) => !this.anySourceMayTry(block));
    while (this.cursor < this.state.length && this.state[this.cursor] !== PENDING) this.cursor++;
    const anyPending = retried !== -1 || this.cursor < this.state.length;
    if (anyPending && policy.fresh) {
      if (retried !== -1) return this.handOut((this.retry.splice(retried, 1) as [number])[0], source);
      return this.handOut(this.cursor++, source);
    }
    const failedElsewhere = policy.fresh ? -1 : this.retry.findIndex((block) => this.tried.has(block) && !this.tried.get(block)?.has(source));
    if (failedElsewhere !== -1) return this.handOut((this.retry.splice(failedElsewhere, 1) as [number])[0], source);
    const duplicate = anyPending ? undefined : this.bestDuplicate(source, policy);
    if (duplicate !== undefined) return this.handOut(duplicate, source);
    // A block in flight elsewhere may still fail and become this source's to try.
    return this.inFlight > 0 || anyPending ? { kind: 'wait', changed: this.nextChange() } : { kind: 'none' };
  }

  private bestDuplicate(source: SourceId, policy: ClaimPolicy): number | undefined {
    if (policy.duplicate === undefined) return undefined;
    let best: number | undefined;
    let bestGain = Number.NEGATIVE_INFINITY;
    for (const [block, holders] of this.holders) {
      if (holders.has(source) || holders.size >= MAX_COPIES || this.tried.get(block)?.has(source)) continue;
      const gain = policy.duplicate(block);
      if (gain !== undefined && gain > bestGain) [best, bestGain] = [block, gain];
    }
    return best;
  }

  private handOut(block: number, source: SourceId): ClaimResult {
    const holders = this.holders.get(block);
    if (holders !== undefined) {
      holders.add(source);
      return { kind: 'block', block, duplicate: true };
    }
    this.state[block] = IN_FLIGHT;
    this.inFlight++;
    this.holders.set(block, new Set([source]));
    return { kind: 'block', block, duplicate: false };
  }

  private failNow(block: number, source: SourceId, sourceGone: boolean, bad: boolean): { dropped: boolean } {
    if (this.state[block] !== DONE) {
      this.letGo(block, source);
      const tried = this.tried.get(block) ?? new Set<SourceId>();
      tried.add(source);
      this.tried.set(block, tried);
    }
    const failures = (this.failuresInARow[source] ?? 0) + 1;
    this.failuresInARow[source] = failures;
    const bads = (this.badBlocks[source] ?? 0) + (bad ? 1 : 0);
    this.badBlocks[source] = bads;
    const dropNow = !this.dropped.has(source) && (sourceGone || failures >= this.maxFailures || bads >= this.maxFailures);
    if (dropNow) this.dropped.add(source);
    this.notify();
    return { dropped: dropNow };
  }

  /** The source stops holding the block; the last holder to let go returns it to pending. */
  private letGo(block: number, source: SourceId): void {
    const holders = this.expectHolder(block, source);
    holders.delete(source);
    if (holders.size > 0) return;
    this.holders.delete(block);
    this.state[block] = PENDING;
    this.inFlight--;
    this.retry.push(block);
  }

  private expectHolder(block: number, source: SourceId): Set<SourceId> {
    const holders = this.holders.get(block);
    if (this.state[block] !== IN_FLIGHT || holders?.has(source) !== true) throw new Error(`block ${block} is not in flight from source ${source}`);
    return holders;
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
