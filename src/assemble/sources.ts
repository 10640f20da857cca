/**
 * Picks the sources to assemble from, local or remote alike (each a BlockSource, made at the edge).
 * Sources that cannot be opened, are the same source twice, have a minority size (or not the size the
 * download names), or whose sample windows disagree with the majority are left out, each with a reason
 * for the user. A server that cannot serve ranges is used only when it is the one source left. None
 * left: UsageError. A source busy at the start (429/503) is asked again as askWhileBusy says, but once
 * the others that agree outnumber it, the selection is made without it and it comes as a late promise.
 */
import { createHash } from 'node:crypto';
import { errorData, UsageError } from '../common/errors.js';
import { askWhileBusy, type BlockSource, type BusyWatch, type SourceInfo } from './source.js';

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

/** A source still busy when the selection was made: it joins the run once it answers like the chosen ones. */
export type LateSource = { readonly kind: 'join'; readonly source: SelectedSource } | { readonly kind: 'skip'; readonly skipped: SkippedSource };

export interface SourceSelection {
  readonly sources: readonly SelectedSource[];
  readonly skipped: readonly SkippedSource[];
  readonly size: number;
  /** sha256 of the sample windows the chosen sources share ('' for a single source read whole). */
  readonly sample: string;
  /** The one source is a server that ignores Range: read it whole, in order. */
  readonly wholeOnly: boolean;
  /**
   * Sources that were waiting out a busy answer (429/503, Retry-After) when the others had answered and
   * outnumbered them: the run starts without them, and each settles later to join it or to a reason.
   */
  readonly late: readonly Promise<LateSource>[];
}

const WINDOW = 64 * 1024;
/** Start, end, and three evenly in between: cheap, and catches a copy that is truncated-then-padded or edited. */
const WINDOWS = 5;

/** One candidate opened and, if it serves ranges at a size that may be chosen, sampled. */
interface Vetted extends SelectedSource {
  readonly digest?: string;
  /** Why its sample windows could not be read. */
  readonly unreadable?: string;
}

type Vetting = Vetted | SkippedSource;

/** A candidate's vetting as it goes: `busy` while any of its requests waits out a busy answer. */
class Watched {
  result: Vetting | undefined;
  readonly done: Promise<Vetting>;
  /** Its requests (the probe, or the sample windows at once) now waiting out a busy answer. */
  private waiting = 0;

  constructor(vetting: (watch: BusyWatch) => Promise<Vetting>, signal: AbortSignal | undefined, changed: () => void) {
    const onBusy = (busy: boolean) => {
      this.waiting += busy ? 1 : -1;
      changed();
    };
    this.done = vetting({ signal, onBusy }).then((result) => {
      this.result = result;
      changed();
      return result;
    });
  }

  get state(): 'working' | 'busy' | 'settled' {
    if (this.result !== undefined) return 'settled';
    return this.waiting > 0 ? 'busy' : 'working';
  }
}

/**
 * `name` is for messages; `expectedSize`, when the download states it, overrides the majority. A source
 * busy at the start does not hold up the others (see SourceSelection.late); `signal` ends its waiting
 * once the run no longer needs it.
 */
export async function selectSources(name: string, candidates: readonly Candidate[], expectedSize?: number, signal?: AbortSignal): Promise<SourceSelection> {
  let wake: () => void = () => undefined;
  const watched = candidates.map((candidate) => new Watched((watch) => vet(candidate, expectedSize, watch), signal, () => wake()));
  while (!enoughSettled(watched)) await new Promise<void>((resolve) => (wake = resolve));
  const selection = choose(name, watched.flatMap((w) => (w.result === undefined ? [] : [w.result])), expectedSize);
  const taken = new Map(selection.sources.map((s) => [s.info.identity, s.source.label]));
  const late = watched.filter((w) => w.result === undefined).map((w) => w.done.then((result) => admitLate(result, selection, taken, expectedSize)));
  return { ...selection, late };
}

/**
 * Every vetting has settled, or the rest are all waiting out a busy answer and the settled sources that
 * agree (same size and sample) are more than half of those settled and waiting: no late answer could
 * outvote them, so the run need not wait for it.
 */
function enoughSettled(watched: readonly Watched[]): boolean {
  if (watched.some((w) => w.state === 'working')) return false;
  const busy = watched.filter((w) => w.state === 'busy').length;
  if (busy === 0) return true;
  const agreeing = new Map<string, Set<string>>();
  let sampled = 0;
  for (const w of watched) {
    const result = w.result;
    if (result === undefined || !('info' in result) || result.digest === undefined) continue;
    sampled++;
    const key = `${result.info.size}:${result.digest}`;
    agreeing.set(key, (agreeing.get(key) ?? new Set()).add(result.info.identity));
  }
  const top = Math.max(0, ...[...agreeing.values()].map((identities) => identities.size));
  return top * 2 > sampled + busy;
}

async function vet(candidate: Candidate, expectedSize: number | undefined, watch: BusyWatch): Promise<Vetting> {
  let info: SourceInfo;
  try {
    info = await askWhileBusy(() => candidate.source.open(watch.signal), watch);
  } catch (err) {
    // The label is final only after open(): a folder becomes <folder>/<name>.
    return { source: candidate.source.label, reason: errorData(err).message };
  }
  const opened = { ...candidate, info };
  if (!info.ranges || (expectedSize !== undefined && info.size !== expectedSize)) return opened;
  try {
    return { ...opened, digest: await sampleDigest(candidate.source, info.size, watch) };
  } catch (err) {
    return { ...opened, unreadable: `cannot be read (${errorData(err).message})` };
  }
}

/** The selection from the vetted candidates, in the order given; the rules of the module comment. */
function choose(name: string, settled: readonly Vetting[], expectedSize: number | undefined): Omit<SourceSelection, 'late'> {
  const skipped = settled.filter((s): s is SkippedSource => !isVetted(s));
  const found = distinct(settled.filter(isVetted), skipped);
  if (found.length === 0) throw new UsageError(`no source has ${name}${describeSkipped(skipped)}`);

  const size = expectedSize ?? Number(majority(found, (c) => String(c.info.size)));
  const others = expectedSize === undefined ? 'the others' : 'the download';
  const sized = keepOrNote(found, (c) => c.info.size === size, skipped, (c) => `has ${c.info.size} bytes, ${others} ${size}`);
  if (sized.length === 0) throw new UsageError(`no source of ${name} has ${size} bytes${describeSkipped(skipped)}`);
  const ranged = sized.filter((c) => c.info.ranges);
  if (ranged.length === 0) {
    const [whole, ...rest] = sized as [Vetted, ...Vetted[]];
    for (const other of rest) skipped.push({ source: other.source.label, reason: 'cannot serve byte ranges, and one such source is enough' });
    return { sources: [selected(whole)], skipped, size, sample: '', wholeOnly: true };
  }
  for (const c of sized) if (!c.info.ranges) skipped.push({ source: c.source.label, reason: NO_RANGES });

  const samples = keepOrNote(ranged, (c) => c.digest !== undefined, skipped, (c) => c.unreadable ?? 'cannot be read');
  if (samples.length === 0) throw new UsageError(`no source of ${name} can be read${describeSkipped(skipped)}`);
  const sample = majority(samples, (s) => s.digest as string);
  const agreeing = keepOrNote(samples, (s) => s.digest === sample, skipped, () => DIFFERS);
  return { sources: agreeing.map(selected), skipped, size, sample, wholeOnly: false };
}

const NO_RANGES = 'answered 200 (the whole file) to a range request: it cannot serve blocks';
const DIFFERS = 'differs from the other copies in sampled regions';

/** A late source, checked as the chosen ones were; `taken` (identity to label) grows with each that joins. */
function admitLate(result: Vetting, selection: Omit<SourceSelection, 'late'>, taken: Map<string, string>, expectedSize: number | undefined): LateSource {
  if (!isVetted(result)) return { kind: 'skip', skipped: result };
  const skip = (reason: string): LateSource => ({ kind: 'skip', skipped: { source: result.source.label, reason } });
  const twin = taken.get(result.info.identity);
  if (twin !== undefined) return skip(`is the same file as ${twin}`);
  if (result.info.size !== selection.size) return skip(`has ${result.info.size} bytes, ${expectedSize === undefined ? 'the others' : 'the download'} ${selection.size}`);
  if (!result.info.ranges) return skip(NO_RANGES);
  if (result.digest === undefined) return skip(result.unreadable ?? 'cannot be read');
  if (result.digest !== selection.sample) return skip(DIFFERS);
  taken.set(result.info.identity, result.source.label);
  return { kind: 'join', source: selected(result) };
}

function isVetted(vetting: Vetting): vetting is Vetted {
  return 'info' in vetting;
}

function selected({ source, given, info }: Vetted): SelectedSource {
  return { source, given, info };
}

function distinct<T extends SelectedSource>(found: readonly T[], skipped: SkippedSource[]): T[] {
  const kept: T[] = [];
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

/** sha256 over the sample windows; their places depend only on the size, so equal copies give equal digests. */
export async function sampleDigest(source: BlockSource, size: number, watch: BusyWatch = {}): Promise<string> {
  const read = (offset: number) => askWhileBusy(() => source.read(offset, Math.min(WINDOW, size - offset), watch.signal), watch);
  const windows = await Promise.all(windowOffsets(size).map(read));
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
