/**
 * `backup assemble <name> --from <src>...`: check the output, make and pick the sources (local and
 * remote), assemble, report. Returns the exit status; throws UsageError for bad input before anything is
 * written.
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { assembleFile, partPathFor, prepareAssembly, type AssembleReport } from '../assemble/assemble.js';
import { RateLimit } from '../assemble/rate-limit.js';
import { statePathFor } from '../assemble/resume-state.js';
import type { DownloadSpec } from '../assemble/download-spec.js';
import { selectSources, type SourceSelection } from '../assemble/sources.js';
import { UsageError } from '../common/errors.js';
import { displayPath, fsPath, rawFromUser, type RawPath } from '../common/raw-path.js';
import { makeSources } from './assemble-sources.js';
import { parseSize } from '../common/size.js';
import { defaultThreads } from '../common/worker-pool.js';
import { expandHome, loadConfig } from '../config/load.js';
import { createProgressBar, formatBytes } from '../progress/bar.js';
import { printJson, reportFailure, say, type OutputMode } from './output.js';

export interface AssembleCliOptions extends OutputMode {
  readonly from: readonly string[];
  readonly output?: string;
  readonly blockSize?: number;
  readonly sha256?: string;
  readonly jobs?: number;
  readonly limitRate?: number;
  readonly force: boolean;
  readonly config?: string;
  readonly header: readonly string[];
  readonly maxPerHost: number;
  readonly stallTimeout: number;
}

export async function assembleCommand(name: string, options: AssembleCliOptions): Promise<number> {
  // The seam for --metalink / --checksums: they fill the same spec, --from adds sources.
  const spec: DownloadSpec = { name, sha256: options.sha256, sources: options.from };
  const { candidates, client } = makeSources(spec.name, spec.sources, {
    headers: options.header,
    maxPerHost: options.maxPerHost,
    stallTimeoutMs: options.stallTimeout,
  });
  try {
    return await assembleDownload(spec, options, candidates);
  } finally {
    await client?.close();
  }
}

async function assembleDownload(spec: DownloadSpec, options: AssembleCliOptions, candidates: Parameters<typeof selectSources>[1]): Promise<number> {
  const started = performance.now();
  const config = await loadConfig(options.config);
  const blockSize = spec.pieces?.length ?? options.blockSize ?? (parseSize(config.blockSize) as number);
  const output = checkOutput(options.output ?? path.basename(spec.name), options.force);
  const selection = await selectSources(spec.name, candidates, spec.size);
  if (!options.quiet) for (const skip of selection.skipped) say(`note: ${skip.source} ${skip.reason}; left out`);
  checkOutputIsNoSource(output, selection);

  const prepared = prepareAssembly({ ...selection, output, blockSize, pieces: spec.pieces?.hashes });
  if (prepared.note !== undefined && !options.quiet) say(`note: ${prepared.note}`);
  if (prepared.done.length > 0 && !options.quiet) say(`resuming: ${prepared.done.length} of ${prepared.blockCount} blocks already done`);

  const bar = await createProgressBar({
    totalBytes: prepared.bytesToCopy,
    totalFiles: prepared.blockCount - prepared.done.length,
    countLabel: 'blocks',
    enabled: !options.quiet && !options.json,
  });
  const report = await assembleFile(prepared, {
    threads: options.jobs ?? config.threads ?? Math.max(defaultThreads(), selection.sources.length),
    expectedSha256: spec.sha256,
    rateLimit: options.limitRate === undefined ? undefined : new RateLimit(options.limitRate),
    progress: bar,
    onNote: (note) => {
      if (!options.quiet) say(`warning: ${note}`);
    },
    onSources: (inUse, total, rates) => bar.setDetail(`| ${inUse}/${total} sources ${rates.map((r) => (r > 0 ? `${formatBytes(r)}/s` : '-')).join(' ')}`),
  }).finally(() => bar.stop());
  return printOutcome(report, selection, output, performance.now() - started, { ...options, sha256: spec.sha256 });
}

/** Absolute raw output path; refuses a missing folder, a folder in the way, or an existing file without --force. */
function checkOutput(outputArg: string, force: boolean): RawPath {
  const output = path.resolve(expandHome(outputArg));
  const parent = statOrUndefined(path.dirname(output));
  if (parent === undefined || !parent.isDirectory()) throw new UsageError(`output folder ${path.dirname(output)} does not exist`);
  const existing = statOrUndefined(output);
  if (existing?.isDirectory()) throw new UsageError(`output ${output} is a folder`);
  if (existing !== undefined && !force) throw new UsageError(`output ${output} exists (use --force to replace it)`);
  const raw = rawFromUser(output);
  // A .part without our state is someone else's (browsers download to .part too): never truncate it unasked.
  const part = partPathFor(raw);
  if (!force && statOrUndefined(fsPath(part)) !== undefined && statOrUndefined(fsPath(statePathFor(part))) === undefined) {
    throw new UsageError(`${displayPath(part)} exists but is not a backupd resume file (use --force to replace it)`);
  }
  return raw;
}

/** With --force the output is replaced at the end; if it is also a source, that would replace the data being read. */
function checkOutputIsNoSource(output: RawPath, selection: SourceSelection): void {
  const existing = statOrUndefined(fsPath(output));
  if (existing === undefined) return;
  for (const { source, info } of selection.sources) {
    if (info.identity === `file:${existing.dev}:${existing.ino}`) throw new UsageError(`output ${displayPath(output)} is the source ${source.label}`);
  }
}

function isUrlLabel(label: string): boolean {
  return /^https?:\/\//.test(label);
}

function statOrUndefined(p: string | Buffer): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch {
    return undefined;
  }
}

function printOutcome(report: AssembleReport, selection: SourceSelection, output: RawPath, durationMs: number, options: AssembleCliOptions): number {
  const { outcome } = report;
  const bytesRead = report.sources.reduce((sum, s) => sum + s.bytes, 0);
  if (outcome.status === 'incomplete') {
    reportFailure(outcome.failure);
    say(`${displayPath(partPathFor(output))} and its state are kept: run the same command again to resume`);
  }
  if (outcome.status === 'checksum-mismatch') {
    reportFailure({ path: displayPath(output), code: 'ECHECKSUM', message: `sha256 is ${outcome.sha256}, expected ${options.sha256}; the .part and its state were deleted` });
  }
  const sha256 = outcome.status === 'incomplete' ? null : outcome.sha256;
  if (options.json) {
    printJson({
      output: displayPath(output),
      status: outcome.status,
      bytes: selection.size,
      blocks: report.blocks,
      blocksResumed: report.blocksResumed,
      bytesRead,
      sources: report.sources.map((source) => ({ ...source, ...(isUrlLabel(source.source) ? { url: source.source } : {}) })),
      skipped: selection.skipped,
      repaired: report.repaired.map(({ block, offset, outvoted, from }) => ({ block, offset, from, outvoted: outvoted.map((i) => report.sources[i]?.source) })),
      durationMs: Math.round(durationMs),
      sha256,
    });
  } else if (!options.quiet && outcome.status === 'done') {
    const seconds = durationMs / 1000;
    const used = report.sources.filter((s) => s.blocks > 0).length;
    say(
      `assembled ${displayPath(output)}: ${formatBytes(selection.size)} in ${seconds.toFixed(2)} s ` +
        `(${formatBytes(bytesRead / Math.max(seconds, 0.001))}/s read) from ${used} source(s); sha256 ${outcome.sha256}`,
    );
  }
  return outcome.status === 'done' ? 0 : 1;
}
