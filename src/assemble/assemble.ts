/**
 * One assembly end to end: prepare `<out>.part` (fresh or resumed), transfer every block (transfer.ts),
 * then fsync, hash, check — repairing the file from the other sources when the hash is wrong — and rename.
 *
 * Outcomes are data: a run that cannot finish (no source can provide some block, the disk is full) keeps
 * the .part and its state for a later resume; a checksum mismatch that repair cannot fix deletes both,
 * since resuming would only rebuild the same wrong bytes.
 */
import fs from 'node:fs';
import { fsyncDir } from '../common/atomic.js';
import type { EntryFailure } from '../common/errors.js';
import { fsPath, parentRel, type RawPath } from '../common/raw-path.js';
import type { ProgressSink } from '../progress/events.js';
import type { RateLimit } from './rate-limit.js';
import { repairFile, sha256OfFile, type RepairedBlock } from './repair.js';
import { loadResumeState, removeResumeState, saveResumeState, sourceKey, validatorChange, type ResumeKey, type SourceValidators } from './resume-state.js';
import type { Validators } from './source.js';
import type { PieceAlgorithm } from './types.js';
import type { LateSource, SelectedSource, SkippedSource } from './sources.js';
import { AssemblyRun, type SourceReport } from './transfer.js';

export type { SourceReport } from './transfer.js';

const { O_WRONLY, O_CREAT, O_TRUNC, O_NOFOLLOW } = fs.constants;

/** What to assemble, decided by the caller (sources already selected). */
export interface AssemblySpec {
  readonly sources: readonly SelectedSource[];
  readonly size: number;
  readonly sample: string;
  /** Absolute raw path of the final file; the work happens in `<output>.part`. */
  readonly output: RawPath;
  readonly blockSize: number;
  /** The hash (hex) of every block, when the download names them: each block is then checked on arrival. */
  readonly pieces?: { readonly algorithm: PieceAlgorithm; readonly hashes: readonly string[] };
  /** The one source can only be read whole, in order (a server that ignores Range). */
  readonly wholeOnly?: boolean;
  /** Sources busy at the start: each joins the run once it answered like the others (sources.ts). */
  readonly late?: readonly Promise<LateSource>[];
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
  /** Validators to keep in the state: those of the interrupted run win over today's. */
  readonly validators: SourceValidators;
  /** Sources whose file changed since the interrupted run: not trusted for the rest. */
  readonly changed: ReadonlyMap<number, string>;
  /** Why a state found next to the .part was not used, if one was. */
  readonly note?: string;
}

export interface RunOptions {
  readonly threads: number;
  readonly expectedSha256?: string;
  readonly rateLimit?: RateLimit;
  readonly progress?: ProgressSink;
  /** Live notes for the user: a source dropped, a block repaired. */
  readonly onNote?: (note: string) => void;
  /** Sources still in use and the bytes per second of each (0 for dropped ones), about once a second. */
  readonly onSources?: (inUse: number, total: number, rates: readonly number[]) => void;
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
  /** Blocks whose bytes were wrong and were rewritten from the majority of the sources. */
  readonly repaired: readonly RepairedBlock[];
  /** Sources busy at the start that were left out once they answered (the selection names the others). */
  readonly skippedLate: readonly SkippedSource[];
}

export function partPathFor(output: RawPath): RawPath {
  return `${output}.part`;
}

/** Resumes from a matching state next to `<output>.part`, or starts a fresh, full-size .part. */
export function prepareAssembly(spec: AssemblySpec): PreparedAssembly {
  const part = partPathFor(spec.output);
  const key: ResumeKey = { size: spec.size, blockSize: spec.blockSize, sample: spec.sample };
  const blockCount = Math.ceil(spec.size / spec.blockSize);
  const current = currentValidators(spec.sources);
  const loaded = loadResumeState(part, key);
  let note = loaded.kind === 'fresh' ? loaded.note : undefined;
  if (loaded.kind === 'resume') {
    const changed = changedSources(spec.sources, loaded.validators);
    if (changed.size < spec.sources.length) {
      const bytesDone = loaded.done.reduce((sum, block) => sum + Math.min(spec.blockSize, spec.size - block * spec.blockSize), 0);
      const validators = { ...current, ...loaded.validators };
      return { spec, part, key, done: loaded.done, blockCount, bytesToCopy: spec.size - bytesDone, validators, changed };
    }
    note = 'resume state discarded: every source changed since it was saved; starting over';
  }
  removeResumeState(part);
  // A state from the start: should the disk fill up before the first periodic save, one still exists.
  // Saved before the .part is created: a kill in between must not leave a .part without a state, which a
  // rerun would refuse as someone else's file.
  saveResumeState(part, key, [], current);
  const mode = spec.sources.find((s) => s.info.mode !== undefined)?.info.mode ?? 0o644;
  createPart(part, key.size, mode & 0o777);
  return { spec, part, key, done: [], blockCount, bytesToCopy: spec.size, validators: current, changed: new Map(), note };
}

export async function assembleFile(prepared: PreparedAssembly, options: RunOptions): Promise<AssembleReport> {
  const run = new AssemblyRun(prepared, options);
  const incomplete = await run.transfer();
  if (incomplete !== undefined) {
    await run.hash.cancel();
    return run.report({ status: 'incomplete', failure: incomplete }, []);
  }
  await syncFile(prepared.part);
  const sha256 = await run.hash.digest();
  const { expectedSha256 } = options;
  if (expectedSha256 === undefined || sha256 === expectedSha256) return run.report(commit(prepared, sha256), []);
  // Piece hashes checked every block on arrival: the sources agree, so there is no majority to repair from.
  if (prepared.spec.pieces !== undefined) return run.report(discard(prepared, sha256), []);
  options.onNote?.(`sha256 is ${sha256}, expected ${expectedSha256}: comparing every block with the other sources to repair it`);
  const repair = await repairFile(run.repairInput());
  if (repair.repaired.length === 0) return run.report(discard(prepared, sha256), []);
  await syncFile(prepared.part);
  const repairedSha256 = await sha256OfFile(prepared.part, prepared.spec.size);
  const outcome = repairedSha256 === expectedSha256 ? commit(prepared, repairedSha256) : discard(prepared, repairedSha256);
  return run.report(outcome, repair.repaired);
}

function currentValidators(sources: readonly SelectedSource[]): Record<string, Validators> {
  const validators: Record<string, Validators> = {};
  for (const source of sources) if (Object.keys(source.info.validators).length > 0) validators[sourceKey(source.given)] = source.info.validators;
  return validators;
}

/** Index → why, for each source whose validators differ from the ones the state recorded for it. */
function changedSources(sources: readonly SelectedSource[], recorded: SourceValidators): Map<number, string> {
  const changed = new Map<number, string>();
  sources.forEach((source, index) => {
    const why = validatorChange(recorded[sourceKey(source.given)], source.info.validators);
    if (why !== undefined) changed.set(index, why);
  });
  return changed;
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

async function syncFile(file: RawPath): Promise<void> {
  const handle = await fs.promises.open(fsPath(file), O_WRONLY | O_NOFOLLOW);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function commit(prepared: PreparedAssembly, sha256: string): AssembleOutcome {
  fs.renameSync(fsPath(prepared.part), fsPath(prepared.spec.output));
  removeResumeState(prepared.part);
  fsyncDir(parentRel(prepared.spec.output) || '.');
  return { status: 'done', sha256 };
}

function discard(prepared: PreparedAssembly, sha256: string): AssembleOutcome {
  fs.rmSync(fsPath(prepared.part), { force: true });
  removeResumeState(prepared.part);
  return { status: 'checksum-mismatch', sha256 };
}
