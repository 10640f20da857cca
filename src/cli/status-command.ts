/**
 * `backup status`: ask the running daemon how every job and download is doing.
 * Exit 0 all healthy, 1 some job failing or stale, 3 no daemon answers.
 */
import type { JobStatus, StatusReport } from '../control/types.js';
import { formatBytes } from '../progress/bar.js';
import { ask, noDaemon, socketFor, type ClientOptions } from './control-client.js';
import { printJson } from './output.js';

export interface StatusOptions extends ClientOptions {
  readonly json: boolean;
  readonly url: boolean;
}

export async function statusCommand(options: StatusOptions): Promise<number> {
  const socket = await socketFor(options);
  if (options.url) return printPageUrl(socket);
  let report: StatusReport;
  try {
    report = (await ask(socket, 'GET', '/v1/status')).body as StatusReport;
  } catch (err) {
    return noDaemon(err);
  }
  if (options.json) printJson(report);
  else process.stdout.write(formatReport(report));
  return report.jobs.every((job) => job.healthy) ? 0 : 1;
}

async function printPageUrl(socket: string): Promise<number> {
  try {
    const { url } = (await ask(socket, 'GET', '/v1/page')).body as { url: string };
    process.stdout.write(`${url}\n`);
    return 0;
  } catch (err) {
    return noDaemon(err);
  }
}

function formatReport(report: StatusReport): string {
  const lines = [`daemon pid ${report.pid}, up since ${report.startedAt}`];
  for (const job of report.jobs) lines.push(...formatJob(job));
  for (const d of report.downloads) {
    const total = d.totalBytes === null ? '?' : formatBytes(d.totalBytes);
    lines.push(`download ${d.id} ${d.output}: ${d.state}, ${formatBytes(d.bytes)} of ${total}${d.error ? ` (${d.error})` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}

function formatJob(job: JobStatus): string[] {
  const name = job.name === null ? job.source : `${job.name} (${job.source})`;
  const lines = [`${name} -> ${job.dest}: ${job.state}${job.healthy ? '' : ` [${job.problems.join('; ')}]`}`];
  const run = job.lastRun;
  if (run !== null) {
    lines.push(`  last run ${run.at}: ${run.filesCopied} copied (${formatBytes(run.bytesCopied)}) in ${(run.durationMs / 1000).toFixed(2)} s, ${run.failed.length} failed`);
    for (const failure of run.failed) lines.push(`    failed ${failure.path}: ${failure.message} (${failure.code})`);
  }
  lines.push(`  last success ${job.lastSuccess ?? 'never'}; ${job.pending} path(s) waiting`);
  if (job.inFlight !== null) {
    const eta = job.inFlight.etaMs === null ? '' : `, ETA ${Math.ceil(job.inFlight.etaMs / 1000)} s`;
    lines.push(`  copying ${formatBytes(job.inFlight.bytes)} of ${formatBytes(job.inFlight.totalBytes)} at ${formatBytes(job.inFlight.rate)}/s${eta}`);
  }
  if (job.nextRetry !== null) lines.push(`  next retry ${job.nextRetry.at}: ${job.nextRetry.reason}`);
  if (job.latestSnapshot !== null) lines.push(`  latest snapshot ${job.latestSnapshot.at}: ${job.latestSnapshot.path}`);
  return lines;
}
