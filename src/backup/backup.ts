/**
 * One backup job, start to end: walk both trees, plan, execute. Used by `backup` and by the watch
 * daemon's initial sync. Writes nothing until `executeBackup`.
 */
import fs from 'node:fs';
import type { EntryFailure } from '../common/errors.js';
import { fsPath, type RawPath } from '../common/raw-path.js';
import { executePlan, type ExecuteOptions, type ExecutionReport } from '../copy/execute.js';
import type { CompareMode } from '../plan/compare.js';
import { IgnoreRules } from '../plan/ignore.js';
import { buildPlan, type PlanOptions } from '../plan/plan.js';
import type { Plan, Tree } from '../plan/types.js';
import type { RetentionRules } from '../snapshots/retention.js';
import { walkTree } from '../plan/walk.js';
import type { S3Settings } from '../store/s3/client.js';

export interface BackupJob {
  readonly source: RawPath;
  readonly dest: RawPath;
  /** gitignore-style patterns, as lines of a .backupignore at the source's root. */
  readonly exclude: readonly string[];
  readonly delete: boolean;
  readonly compare: CompareMode;
  readonly keepOwner: boolean;
  /** Keep hard-linked files linked in dest. */
  readonly hardLinks: boolean;
  /** Copy extended attributes (ACLs, capabilities) and carry attribute-only changes over on reruns. */
  readonly xattrs: boolean;
  /** -x: do not walk into other filesystems; a mount point is copied as an empty folder. */
  readonly oneFileSystem: boolean;
  /** dest is a snapshot dest: sync into its current/, then take a snapshot (snapshots/snapshot-run.ts). */
  readonly snapshot?: boolean;
  /** Snapshot dests: keep rules applied after each snapshot (a config job's `keep`). */
  readonly keep?: RetentionRules;
  /** s3:// dests: the job's endpoint, pathStyle and region from the config. */
  readonly s3?: S3Settings;
}

/** Re-planning part of a job (watch): only these paths, with the rules of an earlier full walk. */
export interface PlanScope {
  /** Subtrees to walk and plan, relative to the source (and dest) root. */
  readonly only: readonly RawPath[];
  /** The job's rules, with the .backupignore files above `only`, which this walk does not list again. */
  readonly ignore: IgnoreRules;
}

/** Planner options that come from the kind of dest rather than the job (a snapshot dest's current/), or from a restore. */
export type DestRules = Pick<PlanOptions, 'protectLinkedInodes' | 'reusable' | 'replaceFolders'>;

export interface PlannedBackup {
  readonly job: BackupJob;
  readonly plan: Plan;
  /** The walks the plan was made from (a snapshot is taken from dest's, and records the source's identities). */
  readonly source: Tree;
  readonly dest: Tree;
  /** The exclusion rules, with every .backupignore the walk met (watch filters events with them). */
  readonly ignore: IgnoreRules;
  /**
   * False when the source root was gone at the walk. The plan is then of an empty source: never execute
   * it with --delete, it would empty dest.
   */
  readonly sourceFound: boolean;
  /** Entries the scan could not read (unreadable folders). */
  readonly scanFailures: readonly EntryFailure[];
  /** --delete was asked for but dropped because the source scan was incomplete. */
  readonly deletesSkipped: boolean;
}

export function planBackup(job: BackupJob, scope?: PlanScope, destRules: DestRules = {}): PlannedBackup {
  const ignore = scope?.ignore ?? new IgnoreRules(job.exclude);
  const only = scope?.only;
  // A backupd temporary in the source is a leftover of a killed run into that folder, never user data:
  // copying it would only have the next run remove it from dest again.
  const source = walkTree(job.source, { ignore, only, collectTemps: true, oneFileSystem: job.oneFileSystem });
  const dest = walkTree(job.dest, { collectTemps: true, only });
  return planBetweenTrees(job, source, dest, ignore, destRules);
}

/** The plan from a walked source and a listed dest (a folder's walk, or an object store's listing: store/). */
export function planBetweenTrees(job: BackupJob, source: Tree, dest: Tree, ignore: IgnoreRules, destRules: DestRules = {}): PlannedBackup {
  // A folder that could not be listed looks empty: deleting what it lacks would delete its backup (rsync
  // skips deletion on I/O errors for the same reason).
  const scanIncomplete = source.failures.length > 0;
  const plan = buildPlan(source, dest, {
    compare: job.compare,
    delete: job.delete && !scanIncomplete,
    keepOwner: job.keepOwner,
    hardLinks: job.hardLinks,
    xattrs: job.xattrs,
    isExcluded: (rel, isDir) => ignore.isExcluded(rel, isDir),
    ...destRules,
  });
  return {
    job,
    plan,
    source,
    dest,
    ignore,
    sourceFound: source.entries.has(''),
    scanFailures: [...source.failures, ...dest.failures],
    deletesSkipped: job.delete && scanIncomplete,
  };
}

/** A plan and the two roots it is between: a planned backup, or a restore (snapshot → folder). */
export interface PlanBetween {
  readonly job: Pick<BackupJob, 'source' | 'dest'>;
  readonly plan: Plan;
}

export async function executeBackup(
  planned: PlanBetween,
  options: Omit<ExecuteOptions, 'sourceRoot' | 'destRoot'>,
): Promise<ExecutionReport> {
  fs.mkdirSync(fsPath(planned.job.dest), { recursive: true, mode: 0o700 });
  // Dest's own path may go through symlinks the user chose; below it, none may (copy/confine.ts).
  const destRoot = fs.realpathSync(fsPath(planned.job.dest), { encoding: 'latin1' });
  return executePlan(planned.plan, { ...options, sourceRoot: planned.job.source, destRoot });
}
