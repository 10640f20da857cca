/**
 * `backup assemble <name> --from <src>...` (or `--metalink`): describe the download, check the output,
 * make and pick the sources (local and remote), assemble, report. Returns the exit status; throws UsageError for bad input before anything is
 * written.
 */
import { setMaxListeners } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { assembleFile, partPathFor, prepareAssembly, type AssembleReport, type AssemblySpec } from '../assemble/assemble.js';
import { RateLimit } from '../assemble/rate-limit.js';
import { statePathFor } from '../assemble/resume-state.js';
import type { DownloadSpec } from '../assemble/download-spec.js';
import { selectSources, type Candidate, type SourceSelection } from '../assemble/sources.js';
import { UsageError } from '../common/errors.js';
import { displayPath, fsPath, rawFromUser, type RawPath } from '../common/raw-path.js';
import { httpClientFor, makeSources } from './assemble-sources.js';
import { describeDownload, type SpecOptions } from './assemble-spec.js';
import { parseSize } from '../common/size.js';
import { defaultThreads } from '../common/worker-pool.js';
import { expandHome, loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { createProgressBar, formatBytes } from '../progress/bar.js';
import { printJson, reportFailure, say, type OutputMode } from './output.js';

export interface AssembleCliOptions extends OutputMode, SpecOptions {
  readonly output?: string;
  readonly blockSize?: number;
  readonly jobs?: number;
  readonly limitRate?: number;
  readonly force: boolean;
  readonly config?: string;
  readonly maxPerHost: number;
  readonly stallTimeout: number;
}

export async function assembleCommand(name: string | undefined, options: AssembleCliOptions): Promise<number> {
  const remote = { headers: options.header, maxPerHost: options.maxPerHost, stallTimeoutMs: options.stallTimeout };
  const config = await loadConfig(options.config);
  const client = await httpClientFor([...options.from, options.metalink, options.checksums], remote);
  try {
    const { spec, notes } = await describeDownload(name, options, client);
    if (!options.quiet) for (const note of notes) say(`note: ${note}`);
    // The Metalink's mirrors are URLs: a run that had none from --from needs a client now.
    const sourcesClient = client ?? (await httpClientFor(spec.sources, remote));
    try {
      return await assembleDownload(spec, options, config, await makeSources(spec.name, spec.sources, sourcesClient, remote, config));
    } finally {
      if (sourcesClient !== client) await sourcesClient?.close();
    }
  } finally {
    await client?.close();
  }
}

async function assembleDownload(spec: DownloadSpec, options: AssembleCliOptions, config: Config, candidates: readonly Candidate[]): Promise<number> {
  const started = performance.now();
  const blockSize = spec.pieces?.length ?? options.blockSize ?? (parseSize(config.blockSize) as number);
  const output = checkOutput(outputFor(spec.name, options.output), options.force);
  // Ends the waiting of sources still busy at the start once the run no longer needs them. Every probe
  // and sample window listens to it at once: a listener each, many more than EventTarget's warning limit.
  const lateOnes = new AbortController();
  setMaxListeners(0, lateOnes.signal);
  try {
    const selection = await selectSources(spec.name, candidates, spec.size, lateOnes.signal);
    return await assembleSelected(spec, options, { selection, output, blockSize, threads: config.threads, started });
  } finally {
    lateOnes.abort();
  }
}

interface Selected {
  readonly selection: SourceSelection;
  readonly output: RawPath;
  readonly blockSize: number;
  /** From the config: null picks from the machine. */
  readonly threads: number | null;
  readonly started: number;
}

async function assembleSelected(spec: DownloadSpec, options: AssembleCliOptions, { selection, output, blockSize, threads, started }: Selected): Promise<number> {
  if (!options.quiet) for (const skip of selection.skipped) say(`note: ${skip.source} ${skip.reason}; left out`);
  checkOutputIsNoSource(output, selection);
  const pieces = checkedPieces(spec, selection.size);

  const prepared = prepareAssembly({ ...selection, output, blockSize, pieces });
  if (prepared.note !== undefined && !options.quiet) say(`note: ${prepared.note}`);
  if (prepared.done.length > 0 && !options.quiet) say(`resuming: ${prepared.done.length} of ${prepared.blockCount} blocks already done`);

  const bar = await createProgressBar({
    totalBytes: prepared.bytesToCopy,
    totalFiles: prepared.blockCount - prepared.done.length,
    countLabel: 'blocks',
    enabled: !options.quiet && !options.json,
  });
  const report = await assembleFile(prepared, {
    threads: options.jobs ?? threads ?? Math.max(defaultThreads(), selection.sources.length),
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

/**
 * `-o` as given, or inside it when it is a folder (`-o ~/Downloads/`); without `-o`, the name's last
 * component here. A Metalink's name with folders (already checked to stay inside) keeps them under a
 * folder given with `-o`.
 */
function outputFor(name: string, output: string | undefined): string {
  if (output === undefined) return path.basename(name);
  const expanded = expandHome(output);
  if (!output.endsWith('/') && statOrUndefined(expanded)?.isDirectory() !== true) return output;
  const target = path.join(expanded, name);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  return target;
}

/** Piece hashes must cover the file exactly, or some block could never be checked. */
function checkedPieces(spec: DownloadSpec, size: number): AssemblySpec['pieces'] {
  if (spec.pieces === undefined) return undefined;
  const expected = Math.ceil(size / spec.pieces.length);
  if (spec.pieces.hashes.length !== expected) {
    throw new UsageError(`the piece hashes cover ${spec.pieces.hashes.length} pieces, but ${size} bytes in pieces of ${spec.pieces.length} are ${expected}`);
  }
  return { algorithm: spec.pieces.algorithm, hashes: spec.pieces.hashes };
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
      skipped: [...selection.skipped, ...report.skippedLate],
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
