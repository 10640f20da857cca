/**
 * `backup [source] [dest]`: resolve and check the job(s), plan, show or execute, summarise.
 * Returns the exit status; throws UsageError for bad input before anything is written.
 */
import { performance } from 'node:perf_hooks';
import type { BackupJob } from '../backup/backup.js';
import { syncFailures, type Destination } from '../backup/destination.js';
import type { PlanCounts } from '../backup/stream.js';
import type { ExecuteOptions, ExecutionReport } from '../copy/execute.js';
import { formatBytes } from '../progress/bar.js';
import { keepRulesFromConfig } from './keep-rules.js';
import type { SnapshotTaken } from '../snapshots/take.js';
import { NothingToDoError, UsageError } from '../common/errors.js';
import { defaultThreads } from '../common/worker-pool.js';
import { displayPath, rawFromUser } from '../common/raw-path.js';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { CopyPool } from '../copy/pool.js';
import { xattrSupport } from '../copy/xattrs.js';
import { createProgressBar } from '../progress/bar.js';
import { summarize, type BackupSummary } from '../progress/summary.js';
import { printBackupSummary, printJson, say, type OutputMode } from './output.js';
import { backupDestination } from './destinations.js';
import { resolveJobPaths } from './resolve-job.js';
import { s3SettingsOfJob } from './s3-settings.js';
import type { Action, Plan } from '../plan/types.js';

export interface BackupOptions extends OutputMode {
  readonly to?: string;
  readonly jobs?: number;
  readonly exclude: readonly string[];
  readonly delete: boolean;
  readonly checksum: boolean;
  readonly verify: boolean;
  readonly hardLinks: boolean;
  readonly snapshot: boolean;
  /** True unless --no-xattrs. */
  readonly xattrs: boolean;
  readonly oneFileSystem: boolean;
  readonly dryRun: boolean;
  readonly config?: string;
}

export async function backupCommand(sourceArg: string | undefined, destArg: string | undefined, options: BackupOptions): Promise<number> {
  const config = await loadConfig(options.config);
  if (destArg !== undefined && options.to !== undefined) throw new UsageError('give dest either as an argument or with --to, not both');
  const jobs = sourceArg === undefined ? configuredJobs(config, options) : [toJob(sourceArg, destArg ?? options.to, config, options)];
  const threads = options.jobs ?? config.threads ?? defaultThreads();
  const pool = new CopyPool(threads);
  const outcomes: JobOutcome[] = [];
  try {
    for (const job of jobs) outcomes.push(await runOne(job, pool, options));
  } finally {
    await pool.destroy();
  }
  if (options.json) printJson(outcomes.length === 1 ? outcomes[0]?.json : combineJobs(outcomes));
  return Math.max(0, ...outcomes.map((o) => o.exitCode));
}

/** What one job leaves for the end of the command: its status and its --json object. */
export interface JobOutcome {
  readonly exitCode: number;
  readonly json: Record<string, unknown>;
}

/**
 * --json promises exactly one object on stdout: several jobs (from the config) print their totals with a
 * `jobs` list of the per-job objects.
 */
function combineJobs(outcomes: readonly JobOutcome[]): Record<string, unknown> {
  const jobs = outcomes.map((o) => o.json);
  if (jobs.some((j) => j.dryRun === true)) return { dryRun: true, jobs };
  const sum = (key: string) => jobs.reduce((n, j) => n + (j[key] as number), 0);
  const concat = (key: string) => jobs.flatMap((j) => j[key] as unknown[]);
  return {
    filesTotal: sum('filesTotal'),
    filesCopied: sum('filesCopied'),
    filesSkipped: sum('filesSkipped'),
    filesFailed: sum('filesFailed'),
    bytesCopied: sum('bytesCopied'),
    durationMs: sum('durationMs'),
    errors: concat('errors'),
    warnings: concat('warnings'),
    jobs,
  };
}

function configuredJobs(config: Config, options: BackupOptions): BackupJob[] {
  if (config.jobs.length === 0) throw new NothingToDoError('no source given and no jobs in the config');
  return config.jobs.map((job) => toJob(job.source, job.dest, config, options));
}

/** A checked job from what the user typed and the config (shared with `watch`). Throws UsageError. */
export function toJob(
  sourceArg: string,
  destArg: string | undefined,
  config: Config,
  options: Pick<BackupOptions, 'exclude' | 'delete'> & Partial<Pick<BackupOptions, 'checksum' | 'hardLinks' | 'xattrs' | 'oneFileSystem' | 'snapshot'>>,
): BackupJob {
  const paths = resolveJobPaths(sourceArg, destArg, config);
  return {
    source: rawFromUser(paths.source),
    dest: rawFromUser(paths.dest),
    exclude: [...config.exclude, ...(paths.job?.exclude ?? []), ...options.exclude],
    delete: options.delete || (paths.job?.delete ?? false),
    compare: options.checksum ? 'checksum' : 'size-mtime',
    keepOwner: process.getuid?.() === 0,
    hardLinks: options.hardLinks ?? false,
    xattrs: (options.xattrs ?? true) && xattrsWork(),
    oneFileSystem: options.oneFileSystem ?? false,
    snapshot: (options.snapshot ?? false) || (paths.job?.snapshot ?? false),
    ...(paths.job?.keep === undefined ? {} : { keep: keepRulesFromConfig(paths.job.keep) }),
    ...(paths.job === undefined ? {} : { s3: s3SettingsOfJob(paths.job) }),
  };
}

let xattrNoteShown = false;

/** Attributes are copied by default; where the native module has no build, say so once and go on without. */
export function xattrsWork(): boolean {
  const unsupported = xattrSupport();
  if (unsupported !== undefined && !xattrNoteShown) {
    xattrNoteShown = true;
    say(`extended attributes are not copied: ${unsupported}; --no-xattrs silences this`);
  }
  return unsupported === undefined;
}

async function runOne(job: BackupJob, pool: CopyPool, options: BackupOptions): Promise<JobOutcome> {
  const dest = await backupDestination(job, options.jobs);
  try {
    return options.dryRun ? await printDryRun(job, dest, options) : await runSync(job, dest, pool, options);
  } finally {
    dest.close();
  }
}

function copySettings(job: BackupJob, options: BackupOptions): ExecuteOptions['settings'] {
  return { verify: options.verify, keepOwner: job.keepOwner, xattrs: job.xattrs };
}

export function countCopies(plan: Plan): number {
  return plan.actions.filter((a) => a.type === 'copy').length;
}

function sayDeletesSkipped(dest: Destination, scanIncomplete: boolean, report: ExecutionReport): void {
  if (scanIncomplete) say(`deletes skipped in ${displayPath(dest.root)} because some source entries could not be read`);
  else if (report.deletesSkipped) say(`deletes skipped in ${displayPath(dest.root)} because some copies failed`);
}

/** The whole tree synced the dest's way; the bar grows as plans are made (a folder's are made a batch at a time). */
async function runSync(job: BackupJob, dest: Destination, pool: CopyPool, options: BackupOptions): Promise<JobOutcome> {
  const started = performance.now();
  const bar = await createProgressBar({ totalBytes: 0, totalFiles: 0, enabled: !options.quiet && !options.json });
  const grow = (plan: Plan): Plan => {
    bar.grow(plan.bytesToCopy, countCopies(plan));
    return plan;
  };
  const synced = await dest.sync({ pool, settings: copySettings(job, options), progress: bar }, { planned: grow }).finally(() => bar.stop());
  const { report, snapshot } = synced;
  const errors = syncFailures(synced);
  sayDeletesSkipped(dest, synced.deletesSkipped, report);
  if (snapshot?.ok === false) errors.push(snapshot.failure);
  if (snapshot?.ok) errors.push(...snapshot.pruneFailures);
  const summary = summarizeExecution(synced.plan, report, performance.now() - started, errors);
  printBackupSummary(summary, options);
  const json: Record<string, unknown> = { source: displayPath(job.source), dest: displayPath(job.dest), ...summary };
  if (snapshot?.ok) {
    const { name, files, bytesNew, linked, copied, linksRefused } = snapshot.taken;
    const pruned = snapshot.pruned.map((p) => p.name);
    json.snapshot = { name, files, bytesNew, linked, copied, linksRefused, movedLinked: report.filesLinked, movedLinksRefused: report.linksRefused, pruned };
    if (!options.json && !options.quiet) printSnapshotLine(snapshot.taken, report);
    if (!options.json && !options.quiet && pruned.length > 0) say(`pruned by the job's keep rules: ${pruned.join(', ')}`);
  }
  return { exitCode: errors.length > 0 ? 1 : 0, json };
}

function printSnapshotLine(taken: SnapshotTaken, report: ExecutionReport): void {
  const moved = report.filesLinked > 0 ? `; ${report.filesLinked} file(s) of moved folders linked, not copied` : '';
  say(`snapshot ${taken.name}: ${taken.files} files, ${taken.linked} unchanged (linked), ${taken.copied} new (${formatBytes(taken.bytesNew)})${moved}`);
  const refused = taken.linksRefused + report.linksRefused;
  if (refused > 0) say(`${refused} hard link(s) refused by the filesystem (e.g. EMLINK, too many links to one file): copied instead`);
}

const DRY_RUN_VERBS: Record<Action['type'], string> = {
  'remove-temp': 'remove temporary',
  hardlink: 'hard-link',
  reuse: 'link from the last snapshot',
  remove: 'delete',
  mkdir: 'create folder',
  copy: 'copy',
  symlink: 'link',
  'set-meta': 'update metadata',
  'set-xattrs': 'update extended attributes',
};

/** A plan as `{action, path}` lines for dry runs (shared with restore). */
export function describeActions(plan: Plan): { action: string; path: string }[] {
  return plan.actions.map((action) => ({ action: DRY_RUN_VERBS[action.type], path: displayPath(action.rel) || '.' }));
}

/** A dry run, planned the dest's way (a folder batch by batch: memory stays flat as the tree grows). */
async function printDryRun(job: BackupJob, dest: Destination, options: BackupOptions): Promise<JobOutcome> {
  const dryRun = new DryRunLines(options);
  const previewed = await dest.preview((plan) => dryRun.show(plan));
  return dryRun.outcome(job, previewed.plan, previewed.scanFailures);
}

/** A dry run's output: one line per action as it is planned, or (--json) the actions kept for the one object. */
class DryRunLines {
  private count = 0;
  private readonly kept: { action: string; path: string }[] = [];

  constructor(private readonly options: BackupOptions) {}

  show(plan: Plan): void {
    const lines = describeActions(plan);
    this.count += lines.length;
    if (this.options.json) this.kept.push(...lines);
    else for (const line of lines) process.stdout.write(`${line.action} ${line.path}\n`);
  }

  outcome(job: BackupJob, plan: PlanCounts, scanFailures: readonly unknown[]): JobOutcome {
    if (!this.options.json && !this.options.quiet) say(`dry run: ${this.count} action(s), ${plan.bytesToCopy} bytes to copy; nothing was written`);
    const json = { dryRun: true, source: displayPath(job.source), dest: displayPath(job.dest), filesTotal: plan.filesTotal, bytesToCopy: plan.bytesToCopy, actions: this.kept };
    return { exitCode: plan.failures.length > 0 || scanFailures.length > 0 ? 1 : 0, json };
  }
}

/** The summary of one executed plan (backup and restore): the plan's counts with the executor's. */
export function summarizeExecution(plan: PlanCounts, report: ExecutionReport, durationMs: number, errors: BackupSummary['errors']): BackupSummary {
  return summarize({
    filesTotal: plan.filesTotal,
    filesSkipped: plan.filesSkipped,
    filesSkippedLate: report.filesSkipped,
    filesLinked: report.filesLinked,
    filesCopied: report.filesCopied,
    filesFailed: report.filesFailed,
    filesRefused: plan.filesRefused,
    bytesCopied: report.bytesCopied,
    durationMs,
    errors,
    warnings: [...plan.warnings, ...report.warnings],
  });
}
