/**
 * The transfer of one assembly: keeps every source busy with blocks, verifies and writes what arrives,
 * persists the done-set, and counts what each source did.
 *
 * Where the work runs: a local copy's blocks are copied on the piscina pool (synchronous positioned
 * reads and writes, measured faster than libuv's small thread pool, and they keep the event loop free);
 * a remote source's blocks are ranged GETs on this thread's event loop (network I/O is waiting, and a
 * worker would add a copy of every byte), their bodies handed over as they arrive and written here.
 *
 * Rules that keep a wrong byte out:
 *  - a block counts as done only once its bytes are written (and, with piece hashes, checked);
 *  - a block has at most one writer at a time: a buffered copy is written only if no other copy was
 *    written or is being written, and a local (direct) copy is started only on a block no one writes;
 *    one buffered attempt per block may write its bytes early, as they arrive (EarlyWrite), and stops
 *    for good as soon as any other copy is written or being written (having handed its bytes to the
 *    .part, it then gives the block up: it no longer holds them);
 *  - in the endgame, the first good copy wins and the others are aborted and dropped unwritten.
 */
import { createHash, type Hash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import fs from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import type { Piscina } from 'piscina';
import type { EntryFailure } from '../common/errors.js';
import { errorData } from '../common/errors.js';
import { displayPath, fsPath } from '../common/raw-path.js';
import { readFully } from '../common/positioned-io.js';
import { Semaphore } from '../common/semaphore.js';
import { createPool } from '../common/worker-pool.js';
import type { AssembleOutcome, AssembleReport, PreparedAssembly, RunOptions } from './assemble.js';
import { BlockTable, type ClaimPolicy, type SourceId } from './block-table.js';
import { HashFollower } from './hash-follower.js';
import type { RepairedBlock, RepairInput } from './repair.js';
import type { PieceAlgorithm } from './types.js';
import { ResumeSaver, sourceKey, validatorChange } from './resume-state.js';
import { backoffMs, isAbort, SourceError, type BlockSource, type Transfer, type Validators } from './source.js';
import type { LateSource, SelectedSource, SkippedSource } from './sources.js';
import { Throughput } from './throughput.js';

const { O_RDWR, O_NOFOLLOW } = fs.constants;
/**
 * Local blocks in flight per pool thread: one running, one queued, so a thread never idles between blocks.
 * Must stay within piscina's queue ('auto': threads squared) plus the threads themselves.
 */
const IN_FLIGHT_PER_THREAD = 2;
/** A crash costs at most this long of finished work, read again; each save costs an fdatasync of the .part. */
const SAVE_INTERVAL_MS = 1000;
/** A server that keeps saying "busy" this many times in a row is left out. */
const MAX_BACKOFFS_IN_A_ROW = 8;
const SOURCES_REPORT_MS = 1000;
/** A source this many times slower per connection than another leaves the last blocks to it. */
const SLOW_FACTOR = 4;
/**
 * A buffered attempt writes what arrived once it has this much: a few socket reads, still in the CPU's
 * cache (measured, 1 GiB into ext4: 0.37 s of sys time in 256 KiB pieces, 0.5-1.7 s as 8 MiB blocks).
 */
const EARLY_PIECE = 256 * 1024;

export interface SourceReport {
  readonly source: string;
  /** Blocks this source provided. */
  readonly blocks: number;
  /** Bytes read from this source in this run (failed attempts included). */
  readonly bytes: number;
  /** Block reads that failed (busy answers included). */
  readonly failed: number;
  readonly dropped: boolean;
  /** Why it was dropped, or null. */
  readonly droppedWhy: string | null;
  /** Blocks it sent whose bytes were wrong (a piece hash mismatch, or outvoted in repair). */
  readonly badBlocks: number;
}

interface SourceState {
  readonly source: BlockSource;
  readonly throughput: Throughput;
  blocks: number;
  bytes: number;
  failed: number;
  badBlocks: number;
  droppedWhy: string | null;
  /** performance-free wall clock: only compared with Date.now(). */
  pausedUntil: number;
  backoffsInARow: number;
}

function newSourceState(source: BlockSource): SourceState {
  return { source, throughput: new Throughput(), blocks: 0, bytes: 0, failed: 0, badBlocks: 0, droppedWhy: null, pausedUntil: 0, backoffsInARow: 0 };
}

/** One source's attempt at one block, visible to the endgame and to the winner that aborts it. */
interface Attempt {
  readonly controller: AbortController;
  started: number;
  readonly length: number;
  /** Arrived so far, as reported on the way. */
  bytes: number;
  /** What a direct writer's result says it read: exact, where its progress messages may lag. */
  exact?: number;
  /** A buffered attempt's writes made while its bytes arrive. */
  readonly early?: EarlyWrite;
  /**
   * A buffered attempt's bytes as they arrived, while it may have to write them all itself; undefined
   * once its early writes took them over (they hold what is not written yet), and for direct writers.
   */
  held?: Buffer[];
  /** A buffered attempt's piece hash (with piece hashes), fed as the bytes arrive, a kept partial first. */
  readonly pieceHash?: Hash;
}

/**
 * A buffered attempt's bytes written into the .part while they arrive, in pieces of EARLY_PIECE: written
 * at once they are still in the CPU's cache, where the kernel's copy of a whole block into the page cache
 * once it is complete, with sixteen such blocks in flight, cost about three times as much (perf, 1 GiB
 * from 4 mirrors: 2.4 s against aria2c's 0.9 s); and once written they are let go, so a download holds
 * little more than its pieces in memory. Only one attempt per block writes early, and only while no
 * other copy is written or being written; it stops for good at the first sign of one (an attempt stopped
 * before its first piece keeps all its bytes and may still commit them; one stopped after it gives the
 * block up). Its writes never make the block done: that is still the commit's, after the checks.
 */
interface EarlyWrite {
  /** Where the attempt's first byte goes. */
  readonly position: number;
  /** `open` while the body arrives, `closed` once it ended (what was written counts), `stopped` when another writer showed up (it does not). */
  state: 'open' | 'closed' | 'stopped';
  /** Bytes written from `position` on, contiguous. */
  written: number;
  /** Arrived, not written yet: what the commit writes after the early writes. */
  pending: Buffer[];
  pendingBytes: number;
  /** The write in flight; never rejects (its error is kept in `failure`). */
  writing: Promise<void> | undefined;
  failure?: unknown;
}

/** One positioned write of a commit. */
interface Write {
  readonly chunks: readonly Buffer[];
  readonly position: number;
}

/** What fetching a block left to do: the write of a buffered block, running while the slot fetches on. */
interface Fetched {
  readonly commit?: Promise<void>;
}

/** The bytes an attempt read: the exact count once known. */
function readBy(attempt: Attempt): number {
  return attempt.exact ?? attempt.bytes;
}

export class AssemblyRun {
  private readonly table: BlockTable;
  /** The result's sha256, hashed in block order as the done prefix grows. */
  readonly hash: HashFollower;
  private readonly sources: SourceState[];
  /** Which source wrote each block (-1: before this run, or not yet): repair names the one outvoted. */
  private readonly writers: Int16Array;
  /** What short bodies delivered of a block: the next attempt asks only for the rest. */
  private readonly partials = new Map<number, Buffer>();
  private readonly attempts = new Map<number, Map<SourceId, Attempt>>();
  /** Blocks a direct (pool) writer holds, and blocks whose buffered copy is being written. */
  private readonly directlyWritten = new Set<number>();
  private readonly committing = new Set<number>();
  /** Aborted when the run is over (all done, or a write failed): pauses and endgame copies end with it. */
  private readonly stopped = new AbortController();
  /** Every slot's loop, those of sources that joined late included. */
  private readonly running: Promise<void>[] = [];
  /** Pool permits shared by the local sources' slots. */
  private readonly dispatch: Semaphore;
  /** Slots per local source: one more than an even share of the permits. */
  private readonly localSlots: number;
  /** Per-source validators for the resume state: those of sources that join late are added. */
  private readonly validators: Record<string, Validators>;
  private readonly skippedLate: SkippedSource[] = [];
  private pool: Piscina | undefined;
  private handle: fs.promises.FileHandle | undefined;
  private writeFailure: EntryFailure | undefined;

  constructor(
    private readonly prepared: PreparedAssembly,
    private readonly options: RunOptions,
  ) {
    const { spec } = prepared;
    this.table = new BlockTable({ blockCount: prepared.blockCount, sourceCount: spec.sources.length, done: prepared.done });
    this.sources = spec.sources.map(({ source }) => newSourceState(source));
    const permits = IN_FLIGHT_PER_THREAD * options.threads;
    this.dispatch = new Semaphore(permits);
    const direct = this.sources.filter((s) => s.source.writes === 'direct').length;
    this.localSlots = direct === 0 ? 0 : Math.ceil(permits / direct) + 1;
    this.validators = { ...prepared.validators };
    // Each pausing slot listens to it (a listener each, more than EventTarget's warning limit).
    setMaxListeners(0, this.stopped.signal);
    this.writers = new Int16Array(prepared.blockCount).fill(-1);
    const table = this.table;
    this.hash = new HashFollower({ part: prepared.part, size: spec.size, blockSize: spec.blockSize, isDone: (block) => table.isDone(block) });
  }

  /** Runs every slot to its end; returns why the file is incomplete, or undefined when all blocks are done. */
  async transfer(): Promise<EntryFailure | undefined> {
    for (const [source, why] of this.prepared.changed) await this.dropForGood(source, why);
    if (this.table.allDone) return undefined;
    const { part, key } = this.prepared;
    // Read too: what a broken body's early writes put there is read back as its partial (delivered()).
    this.handle = await fs.promises.open(fsPath(part), O_RDWR | O_NOFOLLOW);
    const handle = this.handle;
    const saver = new ResumeSaver({ part, key, validators: this.validators, snapshot: () => this.table.doneBlocks(), syncPart: () => handle.datasync(), intervalMs: SAVE_INTERVAL_MS });
    const reporter = setInterval(() => this.reportSources(), SOURCES_REPORT_MS);
    try {
      this.reportSources();
      await (this.prepared.spec.wholeOnly === true ? this.readWhole(0, saver) : this.runSlots(saver));
      if (this.table.allDone) return undefined;
      await saver.saveNow().catch((err: unknown) => {
        // Typically the same full disk: the last saved state stays, and resume reads a few blocks again.
        this.options.onNote?.(`could not save the latest resume state (${errorData(err).code}); a rerun reads the newest blocks again`);
      });
      return this.writeFailure ?? this.missingBlocksFailure();
    } finally {
      clearInterval(reporter);
      this.stopped.abort();
      await saver.close();
      await this.pool?.destroy();
      await handle.close();
    }
  }

  report(outcome: AssembleOutcome, repaired: readonly RepairedBlock[]): AssembleReport {
    const blamed = new Map<number, number>();
    for (const block of repaired) for (const source of block.outvoted) blamed.set(source, (blamed.get(source) ?? 0) + 1);
    return {
      outcome,
      blocks: this.table.blockCount,
      blocksResumed: this.prepared.done.length,
      sources: this.sources.map((s, i) => ({
        source: s.source.label,
        blocks: s.blocks,
        bytes: s.bytes,
        failed: s.failed,
        dropped: this.table.isDropped(i),
        droppedWhy: s.droppedWhy,
        badBlocks: s.badBlocks + (blamed.get(i) ?? 0),
      })),
      repaired,
      skippedLate: this.skippedLate,
    };
  }

  /** What repair needs: the sources still usable and who wrote what. */
  repairInput(): RepairInput {
    const { spec, part } = this.prepared;
    return {
      part,
      size: spec.size,
      blockSize: spec.blockSize,
      sources: this.sources.map((s, i) => (this.table.isDropped(i) ? undefined : s.source)),
      writers: this.writers,
      onNote: (note) => this.options.onNote?.(note),
    };
  }

  /**
   * Runs every source's slots to their end. Sources busy at the start join as they answer; should every
   * source in the run give up first, the run waits for those still to answer.
   */
  private async runSlots(saver: ResumeSaver): Promise<void> {
    const late = (this.prepared.spec.late ?? []).map((pending) => pending.then((answer) => this.join(answer, saver)));
    this.running.push(...this.slots(this.sources.map((_, i) => i), saver));
    let next = 0;
    const drain = async () => {
      // Slots of a source that joins meanwhile are appended, and awaited too.
      for (; next < this.running.length; next++) await this.running[next];
    };
    await drain();
    if (this.table.allDone || this.writeFailure !== undefined) return;
    await Promise.all(late);
    await drain();
  }

  /**
   * The slots of `sources`, interleaved so the first permits go round. Local sources share the pool's
   * permits (one slot more than an even share: one that finishes early asks again while a slow one, which
   * holds at most its slots, cannot take every permit); a remote source has its connections.
   */
  private slots(sources: readonly SourceId[], saver: ResumeSaver): Promise<void>[] {
    const counts = sources.map((i) => (this.sources[i]?.source.writes === 'direct' ? this.localSlots : (this.sources[i]?.source.slots ?? 0)));
    const slots: Promise<void>[] = [];
    for (let round = 0; round < Math.max(0, ...counts); round++) {
      sources.forEach((source, i) => {
        if (round < (counts[i] ?? 0)) slots.push(this.runSlot(source, saver, this.sources[source]?.source.writes === 'direct' ? this.dispatch : undefined));
      });
    }
    return slots;
  }

  /** A source that was busy at the start and has now answered: it takes blocks from here on, or is left out with its reason. */
  private join(answer: LateSource, saver: ResumeSaver): void {
    if (this.stopped.signal.aborted) return;
    const why = answer.kind === 'skip' ? answer.skipped.reason : this.resumeConflict(answer.source);
    if (answer.kind === 'skip' || why !== undefined) {
      const skipped = answer.kind === 'skip' ? answer.skipped : { source: answer.source.source.label, reason: why as string };
      this.skippedLate.push(skipped);
      this.options.onNote?.(`${skipped.source} ${skipped.reason}; left out`);
      return;
    }
    const { source, given, info } = answer.source;
    const id = this.table.addSource();
    this.sources[id] = newSourceState(source);
    if (Object.keys(info.validators).length > 0) this.validators[sourceKey(given)] ??= info.validators;
    this.running.push(...this.slots([id], saver));
    this.reportSources();
  }

  /** Why a late source's file is not the one an interrupted run recorded for it, if it is not. */
  private resumeConflict({ given, info }: SelectedSource): string | undefined {
    return this.prepared.done.length === 0 ? undefined : validatorChange(this.prepared.validators[sourceKey(given)], info.validators);
  }

  /**
   * One slot: claim a block, fetch it, record the outcome, repeat. Local slots hold a pool permit
   * meanwhile. A remote block is written while the slot already fetches the next one (at most one write
   * per slot in the background): waiting for the write first left the connection idle for as long.
   */
  private async runSlot(source: SourceId, saver: ResumeSaver, dispatch: Semaphore | undefined): Promise<void> {
    const state = this.sources[source] as SourceState;
    let writing: Promise<void> | undefined;
    try {
      for (;;) {
        const pause = state.pausedUntil - Date.now();
        if (pause > 0) await delay(pause, undefined, { signal: this.stopped.signal }).catch(() => undefined);
        const step = async () => {
          const claim = await this.table.claim(source, this.policyFor(source));
          const fetched = claim.kind === 'block' ? await this.fetchBlock(claim.block, source, claim.duplicate, saver) : undefined;
          return { claim, commit: fetched?.commit };
        };
        const { claim, commit } = dispatch === undefined ? await step() : await dispatch.run(step);
        if (commit !== undefined) {
          await writing;
          writing = commit;
        }
        if (claim.kind === 'none') return;
        if (claim.kind === 'wait') await claim.changed;
      }
    } finally {
      await writing;
    }
  }

  /**
   * Faster sources take more blocks: each slot asks again as soon as its block is done, and near the end
   * a source far slower than the fastest one (by measured per-connection rate) leaves the last pending
   * blocks to the faster sources' slots. The fastest source is never held back, so someone always claims.
   * In the endgame a source may duplicate the in-flight block it would most likely finish first, and only
   * if it would beat the holder at the rates shown.
   */
  private policyFor(source: SourceId): ClaimPolicy {
    const mine = (this.sources[source] as SourceState).throughput.slotRate;
    const blockMs = mine === undefined ? 0 : this.prepared.spec.blockSize / mine;
    const direct = this.sources[source]?.source.writes === 'direct';
    return {
      fresh: !this.isSlowNearTheEnd(source, mine),
      duplicate: (block) => {
        if (this.committing.has(block) || this.directlyWritten.has(block) || (direct && this.writesEarly(block))) return undefined;
        const attempts = this.attempts.get(block);
        if (attempts === undefined) return undefined;
        const gain = Math.min(...[...attempts.values()].map((a) => this.remainingMs(a))) - blockMs;
        return gain > 0 ? gain : undefined;
      },
    };
  }

  /**
   * Only remote sources are held back: local copies share the pool, whose queue is part of what their
   * per-block times measure, so their rates say more about the pool than about the disk.
   */
  private isSlowNearTheEnd(source: SourceId, mine: number | undefined): boolean {
    if (mine === undefined || this.sources[source]?.source.writes === 'direct') return false;
    let fasterSlots = 0;
    this.sources.forEach((s, i) => {
      const rate = s.throughput.slotRate;
      if (i !== source && rate !== undefined && rate > SLOW_FACTOR * mine && !this.table.isDropped(i)) fasterSlots += Math.min(s.source.slots, 2 * this.options.threads);
    });
    return fasterSlots > 0 && this.table.pendingCount <= fasterSlots;
  }

  private activeSlots(source: SourceId): number {
    let active = 0;
    for (const attempts of this.attempts.values()) if (attempts.has(source)) active++;
    return active;
  }

  /** How long an attempt still needs at the rate it has shown (forever if it has shown none). */
  private remainingMs(attempt: Attempt): number {
    const elapsed = Date.now() - attempt.started;
    if (attempt.bytes === 0) return elapsed > 0 ? Number.POSITIVE_INFINITY : 0;
    return ((attempt.length - attempt.bytes) * elapsed) / attempt.bytes;
  }

  private async fetchBlock(block: number, source: SourceId, duplicate: boolean, saver: ResumeSaver): Promise<Fetched> {
    const { spec } = this.prepared;
    const state = this.sources[source] as SourceState;
    const start = block * spec.blockSize;
    const length = Math.min(spec.blockSize, spec.size - start);
    const direct = state.source.writes === 'direct';
    // A partial is only continued by a buffered first copy; a direct writer rewrites the whole block.
    const partial = !direct && !duplicate ? this.partials.get(block) : undefined;
    if (partial !== undefined || direct) this.partials.delete(block);
    const have = partial?.length ?? 0;
    // Registered before any await: from here on no buffered copy of this block starts being written.
    const early = direct ? undefined : newEarlyWrite(start + have);
    const pieceHash = direct ? undefined : startPieceHash(spec.pieces?.algorithm, partial);
    const attempt: Attempt = { controller: new AbortController(), started: Date.now(), length: length - have, bytes: 0, early, held: direct ? undefined : [], ...(pieceHash === undefined ? {} : { pieceHash }) };
    this.addAttempt(block, source, attempt);
    if (direct) this.directlyWritten.add(block);
    const signal = AbortSignal.any([attempt.controller.signal, this.stopped.signal]);
    try {
      // A buffered copy may have started being written between the claim and now: a direct writer backs off.
      if (direct && (this.committing.has(block) || this.table.isDone(block) || this.writesEarly(block))) {
        await this.giveBack(block, source, attempt);
        return {};
      }
      await this.options.rateLimit?.take(length - have);
      attempt.started = Date.now();
      const transfer = await this.settlingEarly(attempt, state.source.transfer(
        { offset: start + have, length: length - have },
        {
          part: this.prepared.part,
          pool: () => (this.pool ??= createPool('assemble/block-worker.js', this.options.threads)),
          verify: spec.pieces?.algorithm,
          signal,
          onBytes: (bytes) => this.arrived(state, attempt, bytes),
          onData: (chunk: Buffer) => this.received(block, attempt, chunk),
        },
      ));
      if (transfer.kind === 'written') attempt.exact = transfer.bytesRead;
      return await this.accept(block, source, transfer, partial, saver, attempt);
    } catch (err) {
      if (err instanceof SourceError && err.extra.bytesRead !== undefined) attempt.exact = err.extra.bytesRead;
      await this.failed(block, source, err, partial, attempt);
      return {};
    } finally {
      state.bytes += readBy(attempt);
      this.attempts.get(block)?.delete(source);
      if (this.attempts.get(block)?.size === 0) this.attempts.delete(block);
      if (direct) this.directlyWritten.delete(block);
    }
  }

  /**
   * A chunk of a buffered attempt arrived: hashed, kept while the attempt may write it all itself, and
   * written with the ones before it once they make a piece, unless another copy of the block is written or
   * being written (then this attempt stops writing early).
   */
  private received(block: number, attempt: Attempt, chunk: Buffer): void {
    attempt.pieceHash?.update(chunk);
    attempt.held?.push(chunk);
    const { early } = attempt;
    if (early?.state !== 'open') return;
    early.pending.push(chunk);
    early.pendingBytes += chunk.length;
    this.writePiece(block, attempt, early);
  }

  private writePiece(block: number, attempt: Attempt, early: EarlyWrite): void {
    if (early.state !== 'open' || early.writing !== undefined || early.pendingBytes < EARLY_PIECE) return;
    if (this.lostRace(block) || this.writesEarly(block, attempt)) {
      early.state = 'stopped';
      early.pending = [];
      early.pendingBytes = 0;
      // Its first bytes are only in the .part, where the other copy goes: it cannot commit any more.
      if (attempt.held === undefined) attempt.controller.abort();
      return;
    }
    // The early writes own the bytes from here on: what is written is let go.
    attempt.held = undefined;
    const { pending, pendingBytes } = early;
    early.pending = [];
    early.pendingBytes = 0;
    early.writing = this.writeBlock(pending, early.position + early.written).then(
      () => {
        early.written += pendingBytes;
        early.writing = undefined;
        this.writePiece(block, attempt, early);
      },
      (err: unknown) => {
        early.failure = err;
        early.state = 'stopped';
        early.writing = undefined;
        attempt.controller.abort();
      },
    );
  }

  /**
   * Whether an attempt other than `except` has an early write of the block in flight, or early bytes in
   * it that it may still count on (until it leaves `attempts`, after its commit has started).
   */
  private writesEarly(block: number, except?: Attempt): boolean {
    for (const other of this.attempts.get(block)?.values() ?? []) {
      const early = other.early;
      if (other !== except && early !== undefined && (early.writing !== undefined || (early.state !== 'stopped' && early.written > 0))) return true;
    }
    return false;
  }

  /**
   * `transfer`, settled with the attempt's early writes: none is in flight once it returns (so a block
   * given back or failed has no writer left), and one that failed fails the attempt as an output error.
   */
  private async settlingEarly(attempt: Attempt, transfer: Promise<Transfer>): Promise<Transfer> {
    const { early } = attempt;
    try {
      return await transfer;
    } catch (err) {
      // A failed body is never committed: what it wrote early holds no one back.
      if (early !== undefined) early.state = 'stopped';
      throw err;
    } finally {
      if (early !== undefined) {
        if (early.state === 'open') early.state = 'closed';
        await early.writing;
        if (early.failure !== undefined) {
          const { code, message } = errorData(early.failure);
          // eslint-disable-next-line no-unsafe-finally -- an output error outweighs how the body ended
          throw new SourceError(code, message, 'output');
        }
      }
    }
  }

  private arrived(state: SourceState, attempt: Attempt, bytes: number): void {
    attempt.bytes += bytes;
    state.throughput.add(bytes);
    this.options.progress?.advance(bytes, 0);
  }

  private addAttempt(block: number, source: SourceId, attempt: Attempt): void {
    const attempts = this.attempts.get(block) ?? new Map<SourceId, Attempt>();
    attempts.set(source, attempt);
    this.attempts.set(block, attempts);
  }

  /** Checks what arrived; a buffered block that passes is marked as being written and its write returned. */
  private async accept(block: number, source: SourceId, transfer: Transfer, partial: Buffer | undefined, saver: ResumeSaver, attempt: Attempt): Promise<Fetched> {
    const elapsedMs = Date.now() - attempt.started;
    if (transfer.kind === 'written') {
      if (!this.pieceMatches(block, transfer.digest)) await this.badBlock(block, source, attempt);
      else await this.completeBlock(block, source, saver, attempt, elapsedMs);
      return {};
    }
    const writes = this.commitWrites(block, partial, attempt);
    if (this.lostRace(block) || writes === undefined) await this.giveBack(block, source, attempt);
    else if (!this.pieceMatches(block, attempt.pieceHash?.digest('hex') ?? '')) await this.badBlock(block, source, attempt);
    else {
      // Synchronously after the check (hashing does not yield): from here on no other copy starts being written.
      this.committing.add(block);
      // Other attempts at this block have at most one early write in flight each, and now start no other.
      const earlier = Promise.all([...(this.attempts.get(block)?.values() ?? [])].map((other) => other.early?.writing));
      return { commit: this.writeAndComplete(block, source, writes, earlier, saver, attempt, elapsedMs) };
    }
    return {};
  }

  /**
   * What a commit still writes: all of the block from what the attempt held, or what its early writes
   * left (and a partial kept from before). Undefined when it holds neither: its early writes were
   * stopped by another copy's.
   */
  private commitWrites(block: number, partial: Buffer | undefined, attempt: Attempt): Write[] | undefined {
    const start = block * this.prepared.spec.blockSize;
    const { early, held } = attempt;
    if (held !== undefined) return [{ chunks: partial === undefined ? held : [partial, ...held], position: start }];
    if (early?.state !== 'closed') return undefined;
    const rest = { chunks: early.pending, position: early.position + early.written };
    return partial === undefined ? [rest] : [{ chunks: [partial], position: start }, rest];
  }

  private async writeAndComplete(block: number, source: SourceId, writes: readonly Write[], earlier: Promise<unknown>, saver: ResumeSaver, attempt: Attempt, elapsedMs: number): Promise<void> {
    try {
      await earlier;
      for (const { chunks, position } of writes) await this.writeBlock(chunks, position);
    } catch (err) {
      this.committing.delete(block);
      return this.outputFailed(block, source, err);
    }
    await this.completeBlock(block, source, saver, attempt, elapsedMs);
  }

  private async completeBlock(block: number, source: SourceId, saver: ResumeSaver, attempt: Attempt, elapsedMs: number): Promise<void> {
    const state = this.sources[source] as SourceState;
    // Only now, with the bytes written, may the block count as done (and reach a saved state).
    const { won, losers } = await this.table.complete(block, source);
    this.committing.delete(block);
    if (!won) return this.giveBack(block, source, attempt);
    for (const loser of losers) this.attempts.get(block)?.get(loser)?.controller.abort();
    this.writers[block] = source;
    state.blocks++;
    state.backoffsInARow = 0;
    // Nothing is left to wait for: a slot pausing for a busy source must not hold the end.
    if (this.table.allDone) this.stopped.abort();
    state.throughput.blockDone(attempt.length, elapsedMs);
    this.options.progress?.advance(0, 1);
    saver.blockDone();
    this.hash.advance();
  }

  /** Another copy of the block was written, or is being written: this one is dropped unwritten. */
  private lostRace(block: number): boolean {
    return this.table.isDone(block) || this.committing.has(block) || this.directlyWritten.has(block);
  }

  private pieceMatches(block: number, digest: string): boolean {
    const pieces = this.prepared.spec.pieces;
    return pieces === undefined || pieces.hashes[block] === digest;
  }

  private async giveBack(block: number, source: SourceId, attempt: Attempt): Promise<void> {
    this.options.progress?.advance(-readBy(attempt), 0);
    await this.table.release(block, source);
  }

  private async badBlock(block: number, source: SourceId, attempt: Attempt): Promise<void> {
    const state = this.sources[source] as SourceState;
    this.options.progress?.advance(-readBy(attempt), 0);
    state.failed++;
    state.badBlocks++;
    this.options.onNote?.(`block ${block} from ${state.source.label} does not match its piece hash; fetching it from another source`);
    const { dropped } = await this.table.blame(block, source);
    if (dropped) this.noteDropped(source, 'sent blocks that do not match their piece hashes');
  }

  private async failed(block: number, source: SourceId, err: unknown, partial: Buffer | undefined, attempt: Attempt): Promise<void> {
    const state = this.sources[source] as SourceState;
    if (isAbort(err)) return this.giveBack(block, source, attempt);
    const failure = err instanceof SourceError ? err : new SourceError(errorData(err).code, errorData(err).message, 'retry');
    if (failure.verdict === 'output') {
      this.options.progress?.advance(-readBy(attempt), 0);
      return this.outputFailed(block, source, failure);
    }
    const kept = this.keepPartial(block, partial, this.delivered(block, attempt));
    this.options.progress?.advance(-(readBy(attempt) - kept), 0);
    if (failure.verdict === 'backoff' && ++state.backoffsInARow < MAX_BACKOFFS_IN_A_ROW) {
      // The block goes straight back to the others (no blame); the source's slots all pause.
      state.failed++;
      state.pausedUntil = Math.max(state.pausedUntil, Date.now() + backoffMs(failure, state.backoffsInARow));
      await this.table.release(block, source);
      return;
    }
    state.failed++;
    const { dropped } = await this.table.fail(block, source, failure.verdict !== 'retry');
    if (dropped) this.noteDropped(source, `${failure.message} (${failure.code})`);
  }

  /**
   * What a buffered attempt whose body broke off had received: what it held, or what its early writes put
   * into the .part (read back at once, while no other copy of the block is being written) and the rest.
   */
  private delivered(block: number, attempt: Attempt): Buffer | undefined {
    const { early, held } = attempt;
    if (held !== undefined) return held.length === 0 ? undefined : Buffer.concat(held);
    if (early === undefined || early.written === 0 || this.lostRace(block) || this.writesEarly(block, attempt)) return undefined;
    const written = Buffer.allocUnsafe(early.written);
    try {
      readFully((this.handle as fs.promises.FileHandle).fd, written, early.position, () => new Error('short read'));
    } catch {
      // A partial only saves a fetch: without it, the next attempt asks for the whole block.
      return undefined;
    }
    return Buffer.concat([written, ...early.pending]);
  }

  /** Keeps what a short body delivered (after what an earlier attempt kept); returns the bytes kept of this attempt. */
  private keepPartial(block: number, before: Buffer | undefined, now: Buffer | undefined): number {
    if (this.table.isDone(block) || this.prepared.spec.wholeOnly === true) return 0;
    const kept = before === undefined ? now : Buffer.concat([before, now ?? Buffer.alloc(0)]);
    if (kept !== undefined && kept.length > 0 && !this.partials.has(block)) this.partials.set(block, Buffer.from(kept));
    return now?.length ?? 0;
  }

  private async outputFailed(block: number, source: SourceId, err: unknown): Promise<void> {
    const { code, message } = errorData(err);
    this.writeFailure ??= { path: displayPath(this.prepared.part), code, message };
    await this.table.release(block, source);
    await this.table.stop();
    this.stopped.abort();
  }

  /** One positioned writev; a short write (signals, some filesystems) continues where it stopped. */
  private async writeBlock(chunks: readonly Buffer[], position: number): Promise<void> {
    const handle = this.handle as fs.promises.FileHandle;
    let rest = [...chunks];
    for (let at = position; rest.length > 0; ) {
      const { bytesWritten } = await handle.writev(rest, at);
      at += bytesWritten;
      rest = skipBytes(rest, bytesWritten);
    }
  }

  /**
   * A single server without ranges: read the file once, in order, and write each block not yet done
   * (a resumed run reads the done ones again, since the server cannot skip them, but does not rewrite them).
   */
  private async readWhole(source: SourceId, saver: ResumeSaver): Promise<void> {
    const state = this.sources[source] as SourceState;
    const { blockSize, size } = this.prepared.spec;
    const stream = state.source.stream;
    if (stream === undefined) return;
    let block = 0;
    let buffered: Buffer[] = [];
    let bufferedBytes = 0;
    const attempt: Attempt = { controller: new AbortController(), started: Date.now(), length: size, bytes: 0 };
    try {
      for await (const chunk of stream.call(state.source, this.stopped.signal)) {
        this.arrived(state, attempt, chunk.length);
        state.bytes += chunk.length;
        buffered.push(chunk);
        bufferedBytes += chunk.length;
        while (block < this.prepared.blockCount && bufferedBytes >= Math.min(blockSize, size - block * blockSize)) {
          const length = Math.min(blockSize, size - block * blockSize);
          const all = Buffer.concat(buffered);
          buffered = [all.subarray(length)];
          bufferedBytes -= length;
          await this.wholeBlock(block++, all.subarray(0, length), source, saver);
          if (this.writeFailure !== undefined) return;
        }
      }
    } catch (err) {
      state.failed++;
      const { code, message } = errorData(err);
      this.noteDropped(source, `${message} (${code})`);
      await this.table.drop(source);
    }
  }

  private async wholeBlock(block: number, data: Buffer, source: SourceId, saver: ResumeSaver): Promise<void> {
    const pieceHash = startPieceHash(this.prepared.spec.pieces?.algorithm, data);
    const attempt: Attempt = { controller: new AbortController(), started: Date.now(), length: data.length, bytes: 0, held: [data], ...(pieceHash === undefined ? {} : { pieceHash }) };
    if (this.table.isDone(block)) {
      this.options.progress?.advance(-data.length, 0);
      return;
    }
    if (!(await this.table.claimExact(block, source))) return;
    await (await this.accept(block, source, { kind: 'handed' }, undefined, saver, attempt)).commit;
  }

  private async dropForGood(source: SourceId, why: string): Promise<void> {
    await this.table.drop(source);
    this.noteDropped(source, why);
  }

  private noteDropped(source: SourceId, why: string): void {
    const state = this.sources[source] as SourceState;
    state.droppedWhy ??= why;
    this.options.onNote?.(`source ${state.source.label} dropped: ${why}; its blocks go to the other sources`);
    this.reportSources();
  }

  private reportSources(): void {
    const rates = this.sources.map((s, i) => (this.table.isDropped(i) ? 0 : s.throughput.barRate()));
    const inUse = this.sources.filter((_, i) => !this.table.isDropped(i)).length;
    this.options.onSources?.(inUse, this.sources.length, rates);
  }

  private missingBlocksFailure(): EntryFailure {
    const missing = this.table.unavailableBlocks();
    const first = missing[0] ?? 0;
    return {
      path: displayPath(this.prepared.part),
      code: 'ENOSOURCE',
      message: `${missing.length} block(s) could not be read from any source (first at byte ${first * this.prepared.spec.blockSize}); kept with its state for a later run`,
    };
  }
}

function newEarlyWrite(position: number): EarlyWrite {
  return { position, state: 'open', written: 0, pending: [], pendingBytes: 0, writing: undefined };
}

/** A piece hash to feed as a block's bytes arrive, after `first` (a partial kept from before); none without piece hashes. */
function startPieceHash(algorithm: PieceAlgorithm | undefined, first: Buffer | undefined): Hash | undefined {
  if (algorithm === undefined) return undefined;
  const hash = createHash(algorithm);
  if (first !== undefined) hash.update(first);
  return hash;
}

/** `chunks` without their first `bytes` bytes. */
function skipBytes(chunks: readonly Buffer[], bytes: number): Buffer[] {
  const rest: Buffer[] = [];
  let skip = bytes;
  for (const chunk of chunks) {
    if (skip >= chunk.length) skip -= chunk.length;
    else {
      rest.push(skip === 0 ? chunk : chunk.subarray(skip));
      skip = 0;
    }
  }
  return rest;
}
