/**
 * The history of runs and downloads: JSON lines in the state folder, kept across restarts. Bounded: when
 * the file passes its limit it becomes `history.1.jsonl` (replacing the older one), so the history
 * holds between one and two limits' worth of the newest lines.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { JobMemory } from './state.js';
import type { HistoryEntry } from './types.js';

const DEFAULT_LIMIT_BYTES = 1024 * 1024;

export class HistoryLog {
  readonly file: string;
  private readonly previous: string;

  constructor(
    folder: string,
    private readonly limitBytes = DEFAULT_LIMIT_BYTES,
  ) {
    this.file = path.join(folder, 'history.jsonl');
    this.previous = path.join(folder, 'history.1.jsonl');
  }

  append(entry: HistoryEntry): void {
    fs.appendFileSync(this.file, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
    if (fs.statSync(this.file).size > this.limitBytes) fs.renameSync(this.file, this.previous);
  }

  /** The newest `n` entries (of `job` when given), oldest first. */
  read(n = Infinity, job?: string): HistoryEntry[] {
    const entries = [...readLines(this.previous), ...readLines(this.file)];
    const matching = job === undefined ? entries : entries.filter((e) => e.type !== 'download' && e.job === job);
    return n >= matching.length ? matching : matching.slice(matching.length - n);
  }

  /** Each job's last run and last success, as the daemon knew them before it stopped. */
  memories(): Map<string, JobMemory> {
    const memories = new Map<string, JobMemory>();
    for (const entry of this.read()) {
      if (entry.type !== 'run') continue;
      const { job, at, durationMs, full, filesCopied, bytesCopied, failed } = entry;
      const run = { at, durationMs, full, filesCopied, bytesCopied, failed };
      const ended = new Date(Date.parse(run.at) + run.durationMs).toISOString();
      const lastSuccess = run.failed.length === 0 ? ended : (memories.get(job)?.lastSuccess ?? null);
      memories.set(job, { lastRun: run, lastSuccess });
    }
    return memories;
  }
}

/** Lines that do not parse (a line cut short by a crash) are skipped. */
function readLines(file: string): HistoryEntry[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const entries: HistoryEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      entries.push(JSON.parse(line) as HistoryEntry);
    } catch {
      // a torn last line
    }
  }
  return entries;
}
