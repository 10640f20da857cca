/**
 * The resume state of an assembly: which blocks of `<out>.part` are done, saved atomically next to it in
 * `<out>.part.state`. A state is only trusted when it describes the same file (size and sample digest of
 * the sources), the same block size, and a .part of the right size; anything else is discarded.
 *
 * Saves are throttled and come after an fdatasync of the .part: the state then never lists a block whose
 * bytes could still be lost, not even to a power cut, and a fast assembly does not pay a sync per block.
 *
 * It also keeps each remote source's validators (strong ETag, Last-Modified), keyed by a hash of the URL
 * as given (a URL may carry a token; the state file must not): a rerun drops a source whose file changed.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { z } from 'zod';
import type { Validators } from './source.js';
import { isTempName, writeFileAtomic } from '../common/atomic.js';
import { Mutex } from '../common/semaphore.js';
import { baseName, fsPath, joinRaw, parentRel, type RawPath } from '../common/raw-path.js';

/** What a state must match to be resumed. */
export interface ResumeKey {
  readonly size: number;
  readonly blockSize: number;
  /** sha256 of the sample windows the sources agreed on: a different file of the same size does not match. */
  readonly sample: string;
}

const ValidatorsSchema = z.strictObject({ etag: z.string().optional(), lastModified: z.string().optional() });

/** Version 1 (local sources only) had no validators; it is read as having none. */
const StateSchema = z.strictObject({
  version: z.union([z.literal(1), z.literal(2)]),
  size: z.number().int().min(0),
  blockSize: z.number().int().min(1),
  sample: z.string(),
  /** Done blocks as [first, last] ranges: compact for the long runs a transfer produces. */
  done: z.array(z.tuple([z.number().int().min(0), z.number().int().min(0)])),
  sources: z.record(z.string(), ValidatorsSchema).optional(),
});

/** Validators by source key (see sourceKey). */
export type SourceValidators = Readonly<Record<string, Validators>>;

export type LoadedState =
  | { readonly kind: 'resume'; readonly done: number[]; readonly validators: SourceValidators }
  | { readonly kind: 'fresh'; readonly note?: string };

/** How a source is named in the state: a hash of what the user gave, never the URL itself. */
export function sourceKey(given: string): string {
  return createHash('sha256').update(given).digest('hex').slice(0, 32);
}

export function statePathFor(part: RawPath): RawPath {
  return `${part}.state`;
}

/** The done blocks to resume from, or `fresh` (with a note when a state existed but did not match). */
export function loadResumeState(part: RawPath, key: ResumeKey): LoadedState {
  let text: string;
  try {
    text = fs.readFileSync(fsPath(statePathFor(part)), 'utf8');
  } catch {
    return { kind: 'fresh' };
  }
  const mismatch = describeMismatch(text, part, key);
  if (typeof mismatch === 'string') return { kind: 'fresh', note: `resume state discarded: ${mismatch}; starting over` };
  return { kind: 'resume', ...mismatch };
}

/** The done blocks and validators if the state matches; otherwise why not. */
function describeMismatch(text: string, part: RawPath, key: ResumeKey): { done: number[]; validators: SourceValidators } | string {
  let parsed: z.infer<typeof StateSchema>;
  try {
    parsed = StateSchema.parse(JSON.parse(text));
  } catch {
    return 'unreadable';
  }
  if (parsed.size !== key.size) return `it is for a file of ${parsed.size} bytes, the sources have ${key.size}`;
  if (parsed.blockSize !== key.blockSize) return `it is for blocks of ${parsed.blockSize} bytes, not ${key.blockSize}`;
  if (parsed.sample !== key.sample) return 'the sources hold different content than when it was saved';
  const partSize = sizeOf(part);
  if (partSize !== key.size) return partSize === undefined ? 'the .part file is missing' : 'the .part file has the wrong size';
  const blockCount = Math.ceil(key.size / key.blockSize);
  const done = expandRanges(parsed.done);
  if (done.some((block) => block >= blockCount)) return 'it lists blocks beyond the end of the file';
  return { done, validators: parsed.sources ?? {} };
}

/** Why a source's validators now say its file is not the one the state recorded, or undefined if they agree. */
export function validatorChange(recorded: Validators | undefined, now: Validators): string | undefined {
  if (recorded?.etag !== undefined && recorded.etag !== now.etag) return 'its ETag changed since the interrupted run';
  if (recorded?.lastModified !== undefined && recorded.lastModified !== now.lastModified) return 'its Last-Modified changed since the interrupted run';
  return undefined;
}

function sizeOf(file: RawPath): number | undefined {
  try {
    const stat = fs.lstatSync(fsPath(file));
    return stat.isFile() ? stat.size : undefined;
  } catch {
    return undefined;
  }
}

/**
 * How far an assembly into `part` has come, read from its state without checking it against the sources:
 * for an observer (the daemon's download list), never for resuming.
 */
export function readProgress(part: RawPath): { bytesDone: number; size: number } | undefined {
  try {
    const parsed = StateSchema.parse(JSON.parse(fs.readFileSync(fsPath(statePathFor(part)), 'utf8')));
    const blocks = expandRanges(parsed.done);
    const bytesDone = blocks.reduce((sum, block) => sum + Math.min(parsed.blockSize, parsed.size - block * parsed.blockSize), 0);
    return { bytesDone, size: parsed.size };
  } catch {
    return undefined;
  }
}

/** Writes the state atomically; `done` must list only blocks whose bytes are on disk. */
export function saveResumeState(part: RawPath, key: ResumeKey, done: readonly number[], sources: SourceValidators = {}): void {
  const { size, blockSize, sample } = key;
  writeFileAtomic(statePathFor(part), JSON.stringify({ version: 2, size, blockSize, sample, done: toRanges(done), sources }));
}

/** Removes the state and any temporary a killed save left beside it. */
export function removeResumeState(part: RawPath): void {
  const state = statePathFor(part);
  const dir = parentRel(state) || '.';
  const tempPrefix = `.${baseName(state)}.`;
  for (const name of fs.readdirSync(fsPath(dir), { encoding: 'latin1' })) {
    if (name.startsWith(tempPrefix) && isTempName(name)) fs.rmSync(fsPath(joinRaw(dir, name)), { force: true });
  }
  fs.rmSync(fsPath(state), { force: true });
}

export function toRanges(sortedBlocks: readonly number[]): [number, number][] {
  const ranges: [number, number][] = [];
  for (const block of sortedBlocks) {
    const last = ranges.at(-1);
    if (last !== undefined && last[1] === block - 1) last[1] = block;
    else ranges.push([block, block]);
  }
  return ranges;
}

function expandRanges(ranges: readonly (readonly [number, number])[]): number[] {
  const blocks: number[] = [];
  for (const [first, last] of ranges) for (let block = first; block <= last; block++) blocks.push(block);
  return blocks;
}

export interface SaverOptions {
  readonly part: RawPath;
  readonly key: ResumeKey;
  readonly validators: SourceValidators;
  /** The done blocks now; only blocks whose bytes are written may be in it. */
  readonly snapshot: () => Promise<number[]>;
  /** Flushes the .part's data to disk before a state that relies on it is written. */
  readonly syncPart: () => Promise<void>;
  readonly intervalMs: number;
}

/**
 * Saves the state at most every `intervalMs` while blocks complete. Saves run one at a time (a mutex), so
 * an older snapshot can never overwrite a newer one.
 */
export class ResumeSaver {
  private readonly mutex = new Mutex();
  private timer: NodeJS.Timeout | undefined;
  private lastSave = 0;

  constructor(private readonly options: SaverOptions) {}

  /** A block completed: save now if the last save is old enough, else once the interval has passed. */
  blockDone(): void {
    if (this.timer !== undefined) return;
    const wait = Math.max(0, this.lastSave + this.options.intervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // A failed periodic save is not fatal: the final save reports its error, and resume merely loses ground.
      this.save().catch(() => undefined);
    }, wait);
  }

  /** Cancels a pending periodic save and saves now; errors reach the caller. */
  async saveNow(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.save();
  }

  /** No more saves: the run is over and its state is about to be removed. */
  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.mutex.run(() => undefined);
  }

  private save(): Promise<void> {
    return this.mutex.run(async () => {
      this.lastSave = Date.now();
      const done = await this.options.snapshot();
      await this.options.syncPart();
      saveResumeState(this.options.part, this.options.key, done, this.options.validators);
    });
  }
}
