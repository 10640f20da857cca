/**
 * Picks the copies to assemble from. Each `--from` is a folder that may hold `<name>`, or a copy itself.
 * Copies that are missing, unreadable, the same file twice, of a minority size, or whose sample windows
 * disagree with the majority are left out, each with a reason for the user. None left: UsageError.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { errnoCode, UsageError } from '../common/errors.js';
import { displayPath, fsPath, joinRaw, type RawPath } from '../common/raw-path.js';

export interface Source {
  /** Where the copy was found, for messages (the folder joined with the name, or the path given). */
  readonly label: string;
  /** Its real path: opened later without following links, so a link swapped in is not read through. */
  readonly path: RawPath;
  readonly size: number;
  readonly mode: number;
}

export interface SkippedSource {
  readonly source: string;
  readonly reason: string;
}

export interface SourceSelection {
  readonly sources: readonly Source[];
  readonly skipped: readonly SkippedSource[];
  readonly size: number;
  /** sha256 of the sample windows the chosen sources share. */
  readonly sample: string;
}

const WINDOW = 64 * 1024;
/** Start, end, and three evenly in between: cheap, and catches a copy that is truncated-then-padded or edited. */
const WINDOWS = 5;
const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;

interface Candidate extends Source {
  readonly dev: number;
  readonly ino: number;
}

/** `froms` are absolute raw paths; `name` is the raw relative path looked up in folders. */
export function selectSources(name: RawPath, froms: readonly RawPath[]): SourceSelection {
  const skipped: SkippedSource[] = [];
  const found: Candidate[] = [];
  for (const from of froms) {
    const located = locate(name, from);
    if ('reason' in located) skipped.push(located);
    else {
      const twin = found.find((other) => other.dev === located.dev && other.ino === located.ino);
      if (twin === undefined) found.push(located);
      else skipped.push({ source: located.label, reason: `is the same file as ${twin.label}` });
    }
  }
  if (found.length === 0) throw new UsageError(`no source has ${displayPath(name)}${describeSkipped(skipped)}`);

  const size = Number(majority(found, (c) => String(c.size)));
  const sized = keepOrNote(found, (c) => c.size === size, skipped, (c) => `has ${c.size} bytes, the others ${size}`);
  const samples = sampleAll(sized, skipped);
  if (samples.length === 0) throw new UsageError(`no source of ${displayPath(name)} can be read${describeSkipped(skipped)}`);
  const sample = majority(samples, (s) => s.digest);
  const agreeing = keepOrNote(samples, (s) => s.digest === sample, skipped, () => 'differs from the other copies in sampled regions');
  const sources = agreeing.map((c): Source => ({ label: c.label, path: c.path, size: c.size, mode: c.mode }));
  return { sources, skipped, size, sample };
}

function locate(name: RawPath, from: RawPath): Candidate | SkippedSource {
  let path = from;
  let stat = statOrCode(from);
  if (typeof stat !== 'string' && stat.isDirectory()) {
    path = joinRaw(from, name);
    stat = statOrCode(path);
  }
  const label = displayPath(path);
  if (stat === 'ENOENT' || stat === 'ENOTDIR') return { source: label, reason: 'does not exist' };
  if (typeof stat === 'string') return { source: label, reason: `cannot be read (${stat})` };
  if (!stat.isFile()) return { source: label, reason: 'is not a regular file' };
  return { label, path: realRaw(path), size: stat.size, mode: stat.mode, dev: stat.dev, ino: stat.ino };
}

function realRaw(path: RawPath): RawPath {
  return fs.realpathSync(fsPath(path), { encoding: 'buffer' }).toString('latin1');
}

function statOrCode(path: RawPath): fs.Stats | string {
  try {
    return fs.statSync(fsPath(path));
  } catch (err) {
    return errnoCode(err) ?? 'EUNKNOWN';
  }
}

/** The key most items share; on a tie, the key of the earliest item (the first source given). */
function majority<T>(items: readonly T[], keyOf: (item: T) => string): string {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(keyOf(item), (counts.get(keyOf(item)) ?? 0) + 1);
  let best = keyOf(items[0] as T);
  for (const [key, count] of counts) if (count > (counts.get(best) ?? 0)) best = key;
  return best;
}

function keepOrNote<T extends Source>(items: readonly T[], keep: (item: T) => boolean, skipped: SkippedSource[], reason: (item: T) => string): T[] {
  const kept: T[] = [];
  for (const item of items) {
    if (keep(item)) kept.push(item);
    else skipped.push({ source: item.label, reason: reason(item) });
  }
  return kept;
}

interface Sampled extends Candidate {
  readonly digest: string;
}

function sampleAll(sources: readonly Candidate[], skipped: SkippedSource[]): Sampled[] {
  const sampled: Sampled[] = [];
  for (const source of sources) {
    try {
      sampled.push({ ...source, digest: sampleDigest(source.path, source.size) });
    } catch (err) {
      skipped.push({ source: source.label, reason: `cannot be read (${errnoCode(err) ?? 'EUNKNOWN'})` });
    }
  }
  return sampled;
}

/** sha256 over the sample windows; their places depend only on the size, so equal copies give equal digests. */
export function sampleDigest(path: RawPath, size: number): string {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(WINDOW);
  const fd = fs.openSync(fsPath(path), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  try {
    for (const offset of windowOffsets(size)) {
      const length = Math.min(WINDOW, size - offset);
      const read = fs.readSync(fd, buffer, 0, length, offset);
      if (read !== length) throw Object.assign(new Error('shorter than its size'), { code: 'ESHORTREAD' });
      hash.update(buffer.subarray(0, read));
    }
  } finally {
    fs.closeSync(fd);
  }
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
