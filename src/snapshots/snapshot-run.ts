/**
 * A backup into a snapshot dest: sync the source into current/ with the ordinary planner and executor
 * (with the snapshot rules: shared inodes are never changed in place, files of a moved folder are linked
 * from the last snapshot), then take a snapshot of current/. Holds the dest's lock from start to close.
 *
 * Used by `backup --snapshot` (one sync, one snapshot) and by the watch daemon (many syncs, a snapshot
 * every interval in which something changed).
 */
import { errorData, type EntryFailure } from '../common/errors.js';
import { pausePoint } from '../common/pause-point.js';
import { displayPath } from '../common/raw-path.js';
import { executeBackup, planBackup, type BackupJob, type DestRules, type PlannedBackup, type PlanScope } from '../backup/backup.js';
import { previewWholeTree, syncFailures, syncWholeTree, type Destination, type DestSync } from '../backup/destination.js';
import type { BatchHooks, StreamedBackup, StreamExecution } from '../backup/stream.js';
import type { ExecuteOptions, ExecutionReport } from '../copy/execute.js';
import type { Plan, Tree } from '../plan/types.js';
import { walkTree } from '../plan/walk.js';
import { findSnapshot, snapshotDest, type SnapshotDest, type SnapshotRef } from './layout.js';
import { DestLock } from './lock.js';
import { readManifest, reusableFiles, type Manifest } from './manifest.js';
import { checkSnapshotDest, openSnapshotDest } from './open-dest.js';
import { pruneSnapshots } from './prune.js';
import { hasRule } from './retention.js';
import { removeInterrupted, takeSnapshot, type SnapshotTaken } from './take.js';

export type SnapshotOutcome =
  /** `pruned`: snapshots removed by the job's keep rules after this one was taken. */
  | { readonly ok: true; readonly taken: SnapshotTaken; readonly pruned: readonly { readonly name: string }[]; readonly pruneFailures: readonly EntryFailure[] }
  | { readonly ok: false; readonly failure: EntryFailure };

export class SnapshotRun {
  private previous: { ref: SnapshotRef; manifest: Manifest | undefined } | undefined;

  private constructor(
    readonly job: BackupJob,
    readonly dest: SnapshotDest,
    private readonly lock: DestLock,
  ) {
    const ref = findSnapshot(dest.root);
    this.previous = ref === undefined ? undefined : { ref, manifest: readManifest(dest.root, ref.name) };
  }

  /**
   * Checks the dest (UsageError, nothing written, when it cannot be a snapshot dest or is locked), makes
   * it a snapshot dest if new, takes the lock, and removes what an interrupted run left.
   */
  static open(job: BackupJob): SnapshotRun {
    checkSnapshotDest(job.dest);
    const dest = openSnapshotDest(job.dest);
    const lock = DestLock.acquire(dest.root);
    try {
      removeInterrupted(dest);
      return new SnapshotRun(job, dest, lock);
    } catch (err) {
      lock.release();
      throw err;
    }
  }

  /** The job as the engine sees it: its dest is current/. */
  get currentJob(): BackupJob {
    return { ...this.job, dest: this.dest.current };
  }

  plan(scope?: PlanScope): PlannedBackup {
    return planBackup(this.currentJob, scope, snapshotRules(this.previous?.manifest, this.job.keepOwner));
  }

  sync(planned: PlannedBackup, options: Omit<ExecuteOptions, 'sourceRoot' | 'destRoot' | 'reuseRoot'>): Promise<ExecutionReport> {
    return executeBackup(planned, { ...options, reuseRoot: this.previous?.ref.path });
  }

  /**
   * A snapshot of current/ as it is now. `lastPlan`: the plan just executed, whose walk of current/ is
   * still true when it did nothing. A failure (disk full, …) leaves every earlier snapshot as it was.
   */
  snapshot(source: Tree, failed: boolean, lastPlan?: PlannedBackup): SnapshotOutcome {
    pausePoint('synced');
    const nothingDone = lastPlan !== undefined && lastPlan.plan.actions.length === 0;
    const current = nothingDone ? lastPlan.dest : walkTree(this.dest.current, { collectTemps: true });
    try {
      const { taken, manifest } = takeSnapshot(this.dest, { current, source, previous: this.previous?.manifest, failed, keepOwner: this.job.keepOwner, xattrs: this.job.xattrs });
      const ref = findSnapshot(this.dest.root, taken.name);
      if (ref !== undefined) this.previous = { ref, manifest };
      const keep = this.job.keep;
      // Under this run's lock, deleting inline: the next run waits for the lock anyway.
      const pruned = keep !== undefined && hasRule(keep) ? pruneSnapshots(this.dest.root, keep, { dryRun: false }) : undefined;
      return { ok: true, taken, pruned: pruned?.removed ?? [], pruneFailures: pruned?.failures ?? [] };
    } catch (err) {
      return { ok: false, failure: { path: displayPath(this.dest.snapshots), ...errorData(err), message: `snapshot not taken: ${errorData(err).message}` } };
    }
  }

  close(): void {
    this.lock.release();
  }
}

/** What `--dry-run --snapshot` would do: the same plan, without creating, locking or cleaning anything. */
export function planSnapshotDryRun(job: BackupJob): PlannedBackup {
  checkSnapshotDest(job.dest);
  const { current } = snapshotDest(job.dest);
  const latest = findSnapshot(job.dest);
  const manifest = latest === undefined ? undefined : readManifest(job.dest, latest.name);
  return planBackup({ ...job, dest: current }, undefined, snapshotRules(manifest, job.keepOwner));
}

function snapshotRules(previous: Manifest | undefined, keepOwner: boolean): DestRules {
  return { protectLinkedInodes: true, reusable: previous === undefined ? undefined : reusableFiles(previous, keepOwner) };
}

/**
 * `backup --snapshot`: the snapshot dest as a Destination. Opened (checked, made a snapshot dest if new,
 * locked, cleaned) on its first plan; a sync is planned whole, executed into current/, then snapshotted.
 */
export class SnapshotRunDestination implements Destination {
  private opened: SnapshotRun | undefined;

  constructor(private readonly job: BackupJob) {}

  get root(): string {
    return snapshotDest(this.job.dest).current;
  }

  private get run(): SnapshotRun {
    return (this.opened ??= SnapshotRun.open(this.job));
  }

  async preview(show: (plan: Plan) => void): Promise<StreamedBackup> {
    return previewWholeTree(planSnapshotDryRun(this.job), show);
  }

  async plan(scope?: PlanScope): Promise<PlannedBackup> {
    return this.run.plan(scope);
  }

  execute(planned: PlannedBackup, execution: StreamExecution): Promise<ExecutionReport> {
    return this.run.sync(planned, execution);
  }

  /** The sync, then a snapshot of current/ (told whether the sync had failures). */
  async sync(execution: StreamExecution, hooks?: BatchHooks): Promise<DestSync> {
    const { synced, planned } = await syncWholeTree(this, execution, hooks);
    if (!synced.sourceFound) return synced;
    return { ...synced, snapshot: this.run.snapshot(planned.source, syncFailures(synced).length > 0, planned) };
  }

  close(): void {
    this.opened?.close();
    this.opened = undefined;
  }
}
