/**
 * `backup log [--json] [-n N] [<job>]`: the history of runs and downloads. Asked of the daemon; when none
 * answers, read from this user's state folder (the history outlives the daemon).
 */
import { NoDaemonError } from '../control/client.js';
import { HistoryLog } from '../control/history.js';
import { stateFolder } from '../control/paths.js';
import type { HistoryEntry } from '../control/types.js';
import { formatBytes } from '../progress/bar.js';
import { ask, jobArgument, socketFor, type ClientOptions } from './control-client.js';
import { say } from './output.js';

export interface LogOptions extends ClientOptions {
  readonly json: boolean;
  readonly lines?: number;
}

const DEFAULT_LINES = 20;

export async function logCommand(job: string | undefined, options: LogOptions): Promise<number> {
  const n = options.lines ?? DEFAULT_LINES;
  const wanted = jobArgument(job);
  let entries: HistoryEntry[];
  try {
    const query = new URLSearchParams({ n: String(n), ...wanted });
    entries = ((await ask(await socketFor(options), 'GET', `/v1/history?${query}`)).body as { entries: HistoryEntry[] }).entries;
  } catch (err) {
    if (!(err instanceof NoDaemonError)) throw err;
    const log = new HistoryLog(stateFolder());
    say(`note: no daemon answers; reading ${log.file}`);
    entries = log.read(n, wanted?.path ?? wanted?.job);
  }
  for (const entry of entries) process.stdout.write(`${options.json ? JSON.stringify(entry) : formatEntry(entry)}\n`);
  return 0;
}

function formatEntry(entry: HistoryEntry): string {
  if (entry.type === 'download') {
    return `${entry.at} download ${entry.id} ${entry.output}: ${entry.state}, ${formatBytes(entry.bytes)}${entry.error ? ` (${entry.error})` : ''}`;
  }
  if (entry.type === 'snapshot') return `${entry.at} snapshot ${entry.job}: ${entry.path}, ${entry.files} files (${formatBytes(entry.bytesNew)} new)`;
  const kind = entry.full ? 'full sync' : 'run';
  const failed = entry.failed.map((f) => `\n  failed ${f.path}: ${f.message} (${f.code})`).join('');
  return `${entry.at} ${kind} ${entry.job}: ${entry.filesCopied} copied (${formatBytes(entry.bytesCopied)}) in ${entry.durationMs} ms, ${entry.failed.length} failed${failed}`;
}
