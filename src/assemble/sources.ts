/**
 * Picks the sources to assemble from, local or remote alike (each a BlockSource, made at the edge).
 * Sources that cannot be opened, are the same source twice, have a minority size (or not the size the
 * download names), or whose sample windows disagree with the majority are left out, each with a reason
 * for the user. A server that cannot serve ranges is used only when it is the one source left. None
 * left: UsageError.
 */
import { createHash } from 'node:crypto';
import { errorData, UsageError } from '../common/errors.js';
import type { BlockSource, SourceInfo } from './source.js';

export interface Candidate {
  readonly source: BlockSource;
  /** What the user gave (path or URL): the key of its validators in the resume state, hashed there. */
  readonly given: string;
}

export interface SelectedSource extends Candidate {
  readonly info: SourceInfo;
}

export interface SkippedSource {
  readonly source: string;
  readonly reason: string;
}

export interface SourceSelection {
  readonly sources: readonly SelectedSource[];
  readonly skipped: readonly SkippedSource[];
  readonly size: number;
  /** sha256 of the sample windows the chosen sources share ('' for a single source read whole). */
  readonly sample: string;
  /** The one source is a server that ignores Range: read it whole, in order. */
  readonly wholeOnly: boolean;
}

const WINDOW = 64 * 1024;
/** Start, end, and three evenly in between: cheap, and catches a copy that is truncated-then-padded or edited. */
const WINDOWS = 5;

/** `name` is for messages; `expectedSize`, when the download states it, overrides the majority. */
export async function selectSources(name: string, candidates: readonly Candidate[], expectedSize?: number): Promise<SourceSelection> {
  const skipped: SkippedSource[] = [];
  const found = distinct(await openAll(candidates, skipped), skipped);
  if (found.length === 0) throw new UsageError(`no source has ${name}${describeSkipped(skipped)}`);

  const size = expectedSize ?? Number(majority(found, (c) => String(c.info.size)));
  const others = expectedSize === undefined ? 'the others' : 'the download';
  const sized = keepOrNote(found, (c) => c.info.size === size, skipped, (c) => `has ${c.info.size} bytes, ${others} ${size}`);
  if (sized.length === 0) throw new UsageError(`no source of ${name} has ${size} bytes${describeSkipped(skipped)}`);
  const ranged = sized.filter((c) => c.info.ranges);
  if (ranged.length === 0) {
    const [whole, ...rest] = sized as [SelectedSource, ...SelectedSource[]];
    for (const other of rest) skipped.push({ source: other.source.label, reason: 'cannot serve byte ranges, and one such source is enough' });
    return { sources: [whole], skipped, size, sample: '', wholeOnly: true };
  }
  for (const c of sized) if (!c.info.ranges) skipped.push({ source: c.source.label, reason: 'answered 200 (the whole file) to a range request: it cannot serve blocks' });

  const samples = await sampleAll(ranged, size, skipped);
  if (samples.length === 0) throw new UsageError(`no source of ${name} can be read${describeSkipped(skipped)}`);
  const sample = majority(samples, (s) => s.digest);
  const agreeing = keepOrNote(samples, (s) => s.digest === sample, skipped, () => 'differs from the other copies in sampled regions');
  return { sources: agreeing.map(({ source, given, info }) => ({ source, given, info })), skipped, size, sample, wholeOnly: false };
}

async function openAll(candidates: readonly Candidate[], skipped: SkippedSource[]): Promise<SelectedSource[]> {
  const opened = await Promise.all(
    candidates.map(async (candidate) => {
      try {
        return { ...candidate, info: await candidate.source.open() };
      } catch (err) {
        // The label is final only after open(): a folder becomes <folder>/<name>.
        return { source: candidate.source.label, reason: errorData(err).message };
      }
    }),
  );
  const found: SelectedSource[] = [];
  for (const result of opened) {
    if ('info' in result) found.push(result);
    else skipped.push(result);
  }
  return found;
}

function distinct(found: readonly SelectedSource[], skipped: SkippedSource[]): SelectedSource[] {
  const kept: SelectedSource[] = [];
  for (const candidate of found) {
    const twin = kept.find((other) => other.info.identity === candidate.info.identity);
    if (twin === undefined) kept.push(candidate);
    else skipped.push({ source: candidate.source.label, reason: `is the same file as ${twin.source.label}` });
  }
  return kept;
}

/** The key most items share; on a tie, the key of the earliest item (the first source given). */
function majority<T>(items: readonly T[], keyOf: (item: T) => string): string {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(keyOf(item), (counts.get(keyOf(item)) ?? 0) + 1);
  let best = keyOf(items[0] as T);
  for (const [key, count] of counts) if (count > (counts.get(best) ?? 0)) best = key;
  return best;
}

function keepOrNote<T extends SelectedSource>(items: readonly T[], keep: (item: T) => boolean, skipped: SkippedSource[], reason: (item: T) => string): T[] {
  const kept: T[] = [];
  for (const item of items) {
    if (keep(item)) kept.push(item);
    else skipped.push({ source: item.source.label, reason: reason(item) });
  }
  return kept;
}

interface Sampled extends SelectedSource {
  readonly digest: string;
}

async function sampleAll(sources: readonly SelectedSource[], size: number, skipped: SkippedSource[]): Promise<Sampled[]> {
  const results = await Promise.all(
    sources.map(async (candidate) => {
      try {
        return { ...candidate, digest: await sampleDigest(candidate.source, size) };
      } catch (err) {
        return { source: candidate.source.label, reason: `cannot be read (${errorData(err).message})` };
      }
    }),
  );
  const sampled: Sampled[] = [];
  for (const result of results) {
    if ('digest' in result) sampled.push(result);
    else skipped.push(result);
  }
  return sampled;
}

/** sha256 over the sample windows; their places depend only on the size, so equal copies give equal digests. */
export async function sampleDigest(source: BlockSource, size: number): Promise<string> {
  const windows = await Promise.all(windowOffsets(size).map((offset) => source.read(offset, Math.min(WINDOW, size - offset))));
  const hash = createHash('sha256');
  for (const window of windows) hash.update(window);
  return hash.digest('hex');
}

export function windowOffsets(size: number): number[] {
  if (size <= WINDOW) return size === 0 ? [] : [0];
  const last = size - WINDOW;
  const offsets = new Set<number>();
  for (let i = 0; i < WINDOWS; i++) offsets.add(Math.floor((last * i) / (WINDOWS - 1)));
  return [...offsets];
}

function describeSkipped(skipped: readonly SkippedSource[]): string {
  return skipped.length === 0 ? '' : ` (${skipped.map((s) => `${s.source} ${s.reason}`).join('; ')})`;
}
