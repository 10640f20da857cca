/**
 * Orchestrates one assembly: prepare `<out>.part` (fresh or resumed), keep every source busy with block
 * tasks on the pool, persist the done-set as blocks complete, then fsync, hash, check and rename.
 *
 * Outcomes are data: a run that cannot finish (no source can provide some block, the disk is full) keeps
 * the .part and its state for a later resume; a checksum mismatch deletes both, since resuming would only
 * rebuild the same wrong bytes.
 */
import fs from 'node:fs';
import { MessageChannel } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import { fsyncDir } from '../common/atomic.js';
import { errorData, type EntryFailure } from '../common/errors.js';
import { displayPath, fsPath, parentRel, type RawPath } from '../common/raw-path.js';
import { Semaphore } from '../common/semaphore.js';
import { createPool } from '../common/worker-pool.js';
import { listenForProgress, NO_PROGRESS, type ProgressSink } from '../progress/events.js';
import { BlockTable, type SourceId } from './block-table.js';
import { HashFollower } from './hash-follower.js';
import type { RateLimit } from './rate-limit.js';
import { loadResumeState, removeResumeState, ResumeSaver, saveResumeState, type ResumeKey } from './resume-state.js';
import type { Source } from './sources.js';
import type { BlockResult, BlockTask } from './types.js';

const { O_WRONLY, O_CREAT, O_TRUNC, O_NOFOLLOW } = fs.constants;
/**
 * Blocks in flight per pool thread: one running, one queued, so a thread never idles between blocks.
 * Must stay within piscina's queue ('auto': threads squared) plus the threads themselves.
 */
const IN_FLIGHT_PER_THREAD = 2;
/** A crash costs at most this long of finished work, read again; each save costs an fdatasync of the .part. */
const SAVE_INTERVAL_MS = 1000;

/** What to assemble, decided by the caller (sources already selected). */
export interface AssemblySpec {
  readonly sources: readonly Source[];
  readonly size: number;
  readonly sample: string;
  /** Absolute raw path of the final file; the work happens in `<output>.part`. */
  readonly output: RawPath;
  readonly blockSize: number;
}

/** An assembly whose .part is ready: fresh, or resumed with some blocks done. */
export interface PreparedAssembly {
  readonly spec: AssemblySpec;
  readonly part: RawPath;
  readonly key: ResumeKey;
  readonly done: readonly number[];
  readonly blockCount: number;
  /** What is left to copy: the progress bar's total. */
  readonly bytesToCopy: number;
  /** Why a state found next to the .part was not used, if one was. */
  readonly note?: string;
}

export interface RunOptions {
  readonly threads: number;
  readonly expectedSha256?: string;
  readonly rateLimit?: RateLimit;
  readonly progress?: ProgressSink;
  /** Live notes for the user: a source dropped. */
  readonly onNote?: (note: string) => void;
  /** How many sources are still in use, whenever that changes. */
  readonly onSourcesInUse?: (inUse: number, total: number) => void;
}

export interface SourceReport {
  readonly source: string;
  /** Blocks this source provided. */
  readonly blocks: number;
  /** Bytes read from this source in this run (failed attempts included). */
  readonly bytes: number;
  /** Block reads that failed. */
  readonly failed: number;
  readonly dropped: boolean;
}

export type AssembleOutcome =
  | { readonly status: 'done'; readonly sha256: string }
  | { readonly status: 'checksum-mismatch'; readonly sha256: string }
  /** Kept for resume: `failure` names the cause (a write error, or the blocks no source could provide). */
  | { readonly status: 'incomplete'; readonly failure: EntryFailure };

export interface AssembleReport {
  readonly outcome: AssembleOutcome;
  readonly blocks: number;
  /** Blocks found done in the resume state, not read again. */
  readonly blocksResumed: number;
  readonly sources: readonly SourceReport[];
}

export function partPathFor(output: RawPath): RawPath {
  return `${output}.part`;
}

/** Resumes from a matching state next to `<output>.part`, or starts a fresh, full-size .part. */
export function prepareAssembly(spec: AssemblySpec): PreparedAssembly {
  const part = partPathFor(spec.output);
  const key: ResumeKey = { size: spec.size, blockSize: spec.blockSize, sample: spec.sample };
  const blockCount = Math.ceil(spec.size / spec.blockSize);
  const loaded = loadResumeState(part, key);
  if (loaded.kind === 'resume') {
    const bytesDone = loaded.done.reduce((sum, block) => sum + Math.min(spec.blockSize, spec.size - block * spec.blockSize), 0);
    return { spec, part, key, done: loaded.done, blockCount, bytesToCopy: spec.size - bytesDone };
  }
  removeResumeState(part);
  // A state from the start: should the disk fill up before the first periodic save, one still exists.
  // Saved before the .part is created: a kill in between must not leave a .part without a state, which a
  // rerun would refuse as someone else's file.
  saveResumeState(part, key, []);
  createPart(part, key.size, (spec.sources[0]?.mode ?? 0o644) & 0o777);
  return { spec, part, key, done: [], blockCount, bytesToCopy: spec.size, note: loaded.note };
}

export async function assembleFile(prepared: PreparedAssembly, options: RunOptions): Promise<AssembleReport> {
  const run = new AssemblyRun(prepared, options);
  const incomplete = await run.transfer();
  if (incomplete !== undefined) return run.report({ status: 'incomplete', failure: incomplete });
  return run.report(await finish(prepared.part, prepared.spec.output, options.expectedSha256, run.hash));
}

function createPart(part: RawPath, size: number, mode: number): void {
  const fd = fs.openSync(fsPath(part), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, mode);
  try {
    // Full size up front: every block is then a positioned write inside the file, in any order.
    fs.ftruncateSync(fd, size);
  } finally {
    fs.closeSync(fd);
  }
}

/** fsync, hash, compare, then rename into place (or delete on a mismatch). */
async function finish(part: RawPath, output: RawPath, expectedSha256: string | undefined, hash: HashFollower): Promise<AssembleOutcome> {
  const handle = await fs.promises.open(fsPath(part), O_WRONLY | O_NOFOLLOW);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  const sha256 = await hash.digest();
  if (expectedSha256 !== undefined && sha256 !== expectedSha256) {
    fs.rmSync(fsPath(part), { force: true });
    removeResumeState(part);
    return { status: 'checksum-mismatch', sha256 };
  }
  fs.renameSync(fsPath(part), fsPath(output));
  removeResumeState(part);
  fsyncDir(parentRel(output) || '.');
  return { status: 'done', sha256 };
}

interface SourceStats {
  blocks: number;
  bytes: number;
  failed: number;
}

/** One transfer: the table, the pool, the slots and the saver, and what they counted. */
class AssemblyRun {
  private readonly table: BlockTable;
  /** The result's sha256, hashed in block order as the done prefix grows. */
  readonly hash: HashFollower;
  private readonly stats: SourceStats[];
  private readonly spec: AssemblySpec;
  private writeFailure: EntryFailure | undefined;

  constructor(
    private readonly prepared: PreparedAssembly,
    private readonly options: RunOptions,
  ) {
    this.spec = prepared.spec;
    this.table = new BlockTable({ blockCount: prepared.blockCount, sourceCount: this.spec.sources.length, done: prepared.done });
    this.stats = this.spec.sources.map(() => ({ blocks: 0, bytes: 0, failed: 0 }));
    const table = this.table;
    this.hash = new HashFollower({ part: prepared.part, size: this.spec.size, blockSize: this.spec.blockSize, isDone: (block) => table.isDone(block) });
  }

  /** Runs every slot to its end; returns why the file is incomplete, or undefined when all blocks are done. */
  async transfer(): Promise<EntryFailure | undefined> {
    if (this.table.allDone) return undefined;
    const { part, key } = this.prepared;
    const handle = await fs.promises.open(fsPath(part), O_WRONLY | O_NOFOLLOW);
    const saver = new ResumeSaver({
      part,
      key,
      snapshot: () => this.table.doneBlocks(),
      syncPart: () => handle.datasync(),
      intervalMs: SAVE_INTERVAL_MS,
    });
    const pool = createPool('assemble/block-worker.js', this.options.threads);
    try {
      const { sources } = this.spec;
      const { threads } = this.options;
      const inFlight = IN_FLIGHT_PER_THREAD * threads;
      const dispatch = new Semaphore(inFlight);
      // One slot more than an even share: a source that finishes early asks again while a slow one, which
      // holds at most its slots, cannot take every permit. Interleaved, so the first permits go round.
      const slotsPerSource = Math.ceil(inFlight / sources.length) + 1;
      this.reportSourcesInUse();
      const slots = Array.from({ length: slotsPerSource }, () => sources.map((_, source) => this.runSlot(pool, dispatch, source, saver))).flat();
      await Promise.all(slots);
      if (this.table.allDone) return undefined;
      await saver.saveNow().catch((err: unknown) => {
        // Typically the same full disk: the last saved state stays, and resume reads a few blocks again.
        const { code } = errorData(err);
        this.options.onNote?.(`could not save the latest resume state (${code}); a rerun reads the newest blocks again`);
      });
      return this.writeFailure ?? this.missingBlocksFailure();
    } finally {
      await saver.close();
      await pool.destroy();
      await handle.close();
    }
  }

  report(outcome: AssembleOutcome): AssembleReport {
    return {
      outcome,
      blocks: this.table.blockCount,
      blocksResumed: this.prepared.done.length,
      sources: this.spec.sources.map((source, i) => ({
        source: source.label,
        ...(this.stats[i] as SourceStats),
        dropped: this.table.isDropped(i),
      })),
    };
  }

  /**
   * One of a source's slots: take a dispatch permit, claim a block, copy it on the pool, record the
   * outcome, repeat. The permit bounds the blocks in flight to what the pool accepts, however many
   * sources there are; a faster source returns its permits sooner and so takes more blocks.
   */
  private async runSlot(pool: Piscina, dispatch: Semaphore, source: SourceId, saver: ResumeSaver): Promise<void> {
    for (;;) {
      const claim = await dispatch.run(async () => {
        const claim = await this.table.claim(source);
        if (claim.kind === 'block') await this.copyBlock(pool, claim.block, source, saver);
        return claim;
      });
      if (claim.kind === 'none') return;
      if (claim.kind === 'wait') await claim.changed;
    }
  }

  private async copyBlock(pool: Piscina, block: number, source: SourceId, saver: ResumeSaver): Promise<void> {
    const offset = block * this.spec.blockSize;
    const length = Math.min(this.spec.blockSize, this.spec.size - offset);
    await this.options.rateLimit?.take(length);
    const result = await this.copyOnPool(pool, source, offset, length);
    await this.record(result, block, source, saver);
  }

  private async copyOnPool(pool: Piscina, source: SourceId, offset: number, length: number): Promise<BlockResult> {
    const { port1, port2 } = new MessageChannel();
    listenForProgress(port1, this.options.progress ?? NO_PROGRESS);
    const from = this.spec.sources[source] as Source;
    const task: BlockTask = { source: from.path, sourceSize: this.spec.size, part: this.prepared.part, offset, length, port: port2 };
    try {
      return (await pool.run(task, { transferList: [port2] })) as BlockResult;
    } catch (err) {
      // The worker itself failed (not an fs error, which copyBlock returns as data): try another source.
      return { status: 'failed', side: 'source', ...errorData(err), bytesRead: 0 };
    } finally {
      // A progress message still in flight only moves the bar; counts come from the results.
      setImmediate(() => port1.close());
    }
  }

  private async record(result: BlockResult, block: number, source: SourceId, saver: ResumeSaver): Promise<void> {
    const stats = this.stats[source] as SourceStats;
    stats.bytes += result.bytesRead;
    if (result.status === 'done') {
      // Only now, with the bytes written, may the block count as done (and reach a saved state).
      await this.table.complete(block, source);
      stats.blocks++;
      this.options.progress?.advance(0, 1);
      saver.blockDone();
      this.hash.advance();
      return;
    }
    // Bytes of a failed attempt were shown as progress; they will be read again from another source.
    this.options.progress?.advance(-result.bytesRead, 0);
    if (result.side === 'output') {
      this.writeFailure ??= { path: displayPath(this.prepared.part), code: result.code, message: result.message };
      await this.table.release(block);
      await this.table.stop();
      return;
    }
    stats.failed++;
    const label = (this.spec.sources[source] as Source).label;
    const { dropped } = await this.table.fail(block, source, isGone(result.code));
    if (dropped) {
      this.options.onNote?.(`source ${label} dropped: ${result.message} (${result.code}); its blocks go to the other sources`);
      this.reportSourcesInUse();
    }
  }

  private reportSourcesInUse(): void {
    const total = this.spec.sources.length;
    const inUse = this.spec.sources.filter((_, i) => !this.table.isDropped(i)).length;
    this.options.onSourcesInUse?.(inUse, total);
  }

  private missingBlocksFailure(): EntryFailure {
    const missing = this.table.unavailableBlocks();
    const first = missing[0] ?? 0;
    return {
      path: displayPath(this.prepared.part),
      code: 'ENOSOURCE',
      message: `${missing.length} block(s) could not be read from any source (first at byte ${first * this.spec.blockSize}); kept with its state for a later run`,
    };
  }
}

/** Errors after which a source is useless: it is gone, or no longer the file it was at the start. */
function isGone(code: string): boolean {
  return code === 'ENOENT' || code === 'ELOOP' || code === 'ECHANGED' || code === 'ESHORTREAD' || code === 'ESTALE';
}
