/**
 * `backup restore <dest> [<snapshot>] [<path>...] --to <dir>`: check the arguments, plan the restore,
 * show it (--dry-run) or run it, summarise.
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { UsageError } from '../common/errors.js';
import { displayPath, fsPath, rawFromUser, type RawPath } from '../common/raw-path.js';
import { parseTimeName } from '../common/time-name.js';
import { defaultThreads } from '../common/worker-pool.js';
import { expandHome, loadConfig } from '../config/load.js';
import { CopyPool } from '../copy/pool.js';
import { createProgressBar } from '../progress/bar.js';
import type { ExecuteOptions } from '../copy/execute.js';
import type { Plan } from '../plan/types.js';
import { LATEST } from '../snapshots/layout.js';
import { openSnapshotRestore } from '../snapshots/restore.js';
import { previewRestore, restoreInto, type RestoreSource, type RestoreTarget } from '../backup/restore.js';
import { syncFailures } from '../backup/destination.js';
import { s3SettingsFor } from './s3-settings.js';
import { countCopies, describeActions, summarizeExecution, xattrsWork } from './backup-command.js';
import { printBackupSummary, printJson, say, type OutputMode } from './output.js';
import { placeOf } from './resolve-job.js';
import { resolveSnapshotDest } from './snapshot-dest-arg.js';

export interface RestoreOptions extends OutputMode {
  readonly to: string;
  readonly overwrite: boolean;
  readonly dryRun: boolean;
  readonly jobs?: number;
  readonly config?: string;
}

/** A restore from a snapshot or a store, checked (nothing written yet), and how it runs. */
export interface RestoreRun {
  readonly source: RestoreSource;
  readonly target: RestoreTarget;
  /** What the --json object says it was restored from: `{snapshot}` or `{source}`. */
  readonly from: Readonly<Record<string, string>>;
  /** For the dry run's line: `snapshot <name>`, `s3://bucket/prefix/`. */
  readonly name: string;
  readonly threads: number;
  /** The settings of the local executor's copies. */
  readonly settings: ExecuteOptions['settings'];
}

export async function restoreCommand(sourceArg: string, first: string | undefined, rest: readonly string[], options: RestoreOptions): Promise<number> {
  const run = sourceArg.startsWith('s3://') ? await s3Run(sourceArg, first, rest, options) : snapshotRun(sourceArg, first, rest, options);
  if (options.dryRun) return printDryRun(run, options);

  const started = performance.now();
  const pool = new CopyPool(run.threads);
  // Into a new folder everything is copied: the threads boot while the snapshot is listed.
  if (!fs.existsSync(fsPath(run.target.to))) pool.warmUp();
  // The bar grows as plans are made (a snapshot's a batch of folders at a time).
  const bar = await createProgressBar({ totalBytes: 0, totalFiles: 0, enabled: !options.quiet && !options.json });
  const grow = (plan: Plan): Plan => {
    bar.grow(plan.bytesToCopy, countCopies(plan));
    return plan;
  };
  const outcome = await restoreInto(run.source, run.target, { pool, progress: bar, settings: run.settings }, { planned: grow }).finally(async () => {
    bar.stop();
    await pool.destroy();
  });
  const { synced } = outcome;
  const errors = [...syncFailures(synced), ...outcome.failures];
  const summary = summarizeExecution(synced.plan, synced.report, performance.now() - started, errors);
  const keptAside = outcome.keptAside.map((k) => ({ path: displayPath(k.path), keptAs: displayPath(k.keptAs) }));
  if (options.json) {
    printJson({
      ...run.from,
      to: displayPath(run.target.to),
      files: synced.report.filesCopied,
      bytes: synced.report.bytesCopied,
      keptAside,
      keptAsideIn: keptAside.length > 0 && outcome.asideFolder !== undefined ? displayPath(outcome.asideFolder) : null,
      ...summary,
    });
  } else {
    printBackupSummary(summary, options);
    if (keptAside.length > 0 && outcome.asideFolder !== undefined && !options.quiet) {
      say(`${keptAside.length} replaced entr${keptAside.length === 1 ? 'y was' : 'ies were'} kept aside in ${displayPath(outcome.asideFolder)}`);
    }
  }
  return errors.length > 0 ? 1 : 0;
}

function restoreTarget(paths: readonly string[], options: RestoreOptions): RestoreTarget {
  return {
    paths: paths.map(cleanPath),
    to: rawFromUser(path.resolve(expandHome(options.to))),
    overwrite: options.overwrite,
    keepOwner: process.getuid?.() === 0,
    xattrs: xattrsWork(),
  };
}

function snapshotRun(destArg: string, first: string | undefined, rest: readonly string[], options: RestoreOptions): RestoreRun {
  const root = resolveSnapshotDest(destArg);
  const { snapshot, paths } = splitArguments(first, rest);
  const target = restoreTarget(paths, options);
  const avoid = destBelowTarget(displayPath(target.to), displayPath(root));
  const source = openSnapshotRestore({ ...target, root, snapshot, avoid });
  return {
    source,
    target,
    from: { snapshot: source.snapshot.name },
    name: `snapshot ${source.snapshot.name}`,
    threads: options.jobs ?? defaultThreads(),
    settings: { verify: false, keepOwner: target.keepOwner, xattrs: target.xattrs },
  };
}

/** A store has no snapshots: every argument after the URL is a path. Loaded only for s3:// (the SDK). */
async function s3Run(url: string, first: string | undefined, rest: readonly string[], options: RestoreOptions): Promise<RestoreRun> {
  const paths = [first, ...rest].filter((p): p is string => p !== undefined);
  const settings = s3SettingsFor(url, await loadConfig(options.config));
  return (await import('./s3-restore.js')).s3RestoreRun(url, restoreTarget(paths, options), settings, options.jobs);
}

/** The first argument is the snapshot when it is `latest` or a snapshot name; otherwise a path of `latest`. */
function splitArguments(first: string | undefined, rest: readonly string[]): { snapshot: string; paths: string[] } {
  if (first === undefined) return { snapshot: LATEST, paths: [] };
  if (first === LATEST || parseTimeName(first) !== undefined) return { snapshot: first, paths: [...rest] };
  return { snapshot: LATEST, paths: [first, ...rest] };
}

/** `docs/./a.txt/` → `docs/a.txt`; absolute paths and `..` are refused. */
export function cleanPath(text: string): RawPath {
  if (path.isAbsolute(text)) throw new UsageError(`${text}: give paths relative to the backed-up root (e.g. docs/a.txt)`, 'EBADPATH');
  const parts = text.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0 || parts.includes('..')) throw new UsageError(`${text}: not a path inside the snapshot`, 'EBADPATH');
  return rawFromUser(parts.join('/'));
}

/**
 * Refuses --to inside dest. When --to holds dest (restoring a whole system into /, say), returns where
 * dest lies below --to, so that the plan can be refused if it would touch it.
 */
function destBelowTarget(to: string, dest: string): RawPath | undefined {
  const placement = placeOf(to, dest);
  if (placement === 'same' || placement === 'inside') {
    throw new UsageError(`--to ${to} is inside the snapshot dest ${dest}; restore writes only outside it`, 'EINSIDEDEST');
  }
  if (placement !== 'around') return undefined;
  return rawFromUser(path.relative(fs.realpathSync(to), fs.realpathSync(dest)));
}

/** Each plan's actions and what it would keep aside, as they are planned (a snapshot's a batch at a time). */
async function printDryRun({ source, target, from, name }: RestoreRun, options: RestoreOptions): Promise<number> {
  const actions: { action: string; path: string }[] = [];
  const keptAside: { path: string; keptAs: string }[] = [];
  let count = 0;
  let files = 0;
  const outcome = await previewRestore(source, target, (plan, kept) => {
    const lines = describeActions(plan);
    const keptLines = kept.map((k) => ({ path: displayPath(k.path), keptAs: displayPath(k.keptAs) }));
    count += lines.length;
    files += countCopies(plan);
    if (options.json) {
      actions.push(...lines);
      keptAside.push(...keptLines);
      return;
    }
    for (const line of lines) process.stdout.write(`${line.action} ${line.path}\n`);
    for (const k of keptLines) process.stdout.write(`keep aside ${k.path} -> ${k.keptAs}\n`);
  });
  const { plan, scanFailures } = outcome.synced;
  if (options.json) printJson({ dryRun: true, ...from, files, bytes: plan.bytesToCopy, keptAside, actions });
  else if (!options.quiet) say(`dry run: ${name}, ${count} action(s), ${plan.bytesToCopy} bytes to restore; nothing was written`);
  return plan.failures.length > 0 || scanFailures.length > 0 ? 1 : 0;
}
