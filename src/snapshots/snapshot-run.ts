/**
 * A backup into a snapshot dest: sync the source into current/ with the ordinary planner and executor
 * (with the snapshot rules: shared inodes are never changed in place, files of a moved folder are linked
 * from the last snapshot), then take a snapshot of current/. Holds the dest's lock from start to close.
 *
 * Used by `backup --snapshot` (one sync, one snapshot) and by the watch daemon (many syncs, a snapshot
 * every interval in which something changed).
 */
import { errorData, type EntryFailure, type EntryWarning } from '../common/errors.js';
import { pausePoint } from '../common/pause-point.js';
import { displayPath } from '../common/raw-path.js';
import { executeBackup, planBackup, type BackupJob, type DestRules, type PlannedBackup, type PlanScope } from '../backup/backup.js';
import { syncFailures, type Destination, type DestSync } from '../backup/destination.js';
import { streamBackup, streamDryRun, type BatchHooks, type StreamedBackup, type StreamExecution } from '../backup/stream.js';
import type { ExecutionReport } from '../copy/execute.js';
import type { Plan } from '../plan/types.js';
import { findSnapshot, snapshotDest, type SnapshotDest, type SnapshotRef } from './layout.js';
import { DestLock } from './lock.js';
import { manifestFile } from './manifest.js';
import { checkSnapshotDest, openSnapshotDest } from './open-dest.js';
import { pruneSnapshots } from './prune.js';
import { hasRule } from './retention.js';
import { IndexSpillError, ReusableIndex } from './reusable.js';
import { removeInterrupted, takeSnapshot, type SnapshotTaken } from './take.js';

export type SnapshotOutcome =
  /** `pruned`: snapshots removed by the job's keep rules after this one was taken. */
  | { readonly ok: true; readonly taken: SnapshotTaken; readonly pruned: readonly { readonly name: string }[]; readonly pruneFailures: readonly EntryFailure[] }
  | { readonly ok: false; readonly failure: EntryFailure };

export class SnapshotRun {
  private previous: { ref: SnapshotRef; reusable?: Promise<ReusableIndex | undefined> } | undefined;
  /** The latest snapshot's manifest could not be read: said once, with the sync it affects. */
  private unreadableManifest: EntryWarning | undefined;

  private constructor(
    readonly job: BackupJob,
    readonly dest: SnapshotDest,
    private readonly lock: DestLock,
  ) {
    const ref = findSnapshot(dest.root);
    this.previous = ref === undefined ? undefined : { ref };
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

  /** The snapshot rules, with the latest snapshot's files (read from its manifest once per snapshot). */
  private async rules(): Promise<DestRules> {
    const previous = this.previous;
    if (previous === undefined) return snapshotRules(undefined);
    previous.reusable ??= ReusableIndex.load(this.dest.root, previous.ref.name, this.job.keepOwner).catch((err: unknown) => {
      // Only moved files are found through it: without it they are copied again, nothing is lost.
      const { code, message } = errorData(err);
      const problem = err instanceof IndexSpillError ? `cannot be indexed: a temporary beside it cannot be written (${message})` : `cannot be read (${message})`;
      this.unreadableManifest = { path: displayPath(manifestFile(this.dest.root, previous.ref.name)), code, message: `${problem}; files moved since snapshot ${previous.ref.name} are copied again` };
      return undefined;
    });
    return snapshotRules(await previous.reusable);
  }

  /** Some subtrees (watch), planned whole. */
  async plan(scope?: PlanScope): Promise<PlannedBackup> {
    const planned = planBackup(this.currentJob, scope, await this.rules());
    return { ...planned, plan: this.withWarning(planned.plan) };
  }

  sync(planned: PlannedBackup, options: StreamExecution): Promise<ExecutionReport> {
    return executeBackup(planned, { ...options, reuseRoot: this.previous?.ref.path });
  }

  /** The whole tree into current/, a batch of folders at a time (bounded memory). */
  async syncAll(execution: StreamExecution, hooks?: BatchHooks): Promise<StreamedBackup> {
    const synced = await streamBackup(this.currentJob, { ...execution, reuseRoot: this.previous?.ref.path }, hooks, await this.rules());
    return { ...synced, plan: this.withWarning(synced.plan) };
  }

  private withWarning<P extends { readonly warnings: readonly EntryWarning[] }>(plan: P): P {
    const warning = this.unreadableManifest;
    this.unreadableManifest = undefined;
    return warning === undefined ? plan : { ...plan, warnings: [...plan.warnings, warning] };
  }

  /** A snapshot of current/ as it is now. A failure (disk full, …) leaves every earlier snapshot as it was. */
  snapshot(failed: boolean): SnapshotOutcome {
    pausePoint('synced');
    // The moved-file index served the plans; its temporaries go before the snapshot is built.
    this.releaseReusable();
    try {
      const taken = takeSnapshot(this.dest, { source: this.job.source, previous: this.previous?.ref.name, failed, keepOwner: this.job.keepOwner, xattrs: this.job.xattrs });
      const ref = findSnapshot(this.dest.root, taken.name);
      if (ref !== undefined) this.previous = { ref };
      const keep = this.job.keep;
      // Under this run's lock, deleting inline: the next run waits for the lock anyway.
      const pruned = keep !== undefined && hasRule(keep) ? pruneSnapshots(this.dest.root, keep, { dryRun: false }) : undefined;
      return { ok: true, taken, pruned: pruned?.removed ?? [], pruneFailures: pruned?.failures ?? [] };
    } catch (err) {
      return { ok: false, failure: { path: displayPath(this.dest.snapshots), ...errorData(err), message: `snapshot not taken: ${errorData(err).message}` } };
    }
  }

  close(): void {
    this.releaseReusable();
    this.lock.release();
  }

  private releaseReusable(): void {
    const previous = this.previous;
    if (previous === undefined) return;
    void previous.reusable?.then((index) => index?.close());
    this.previous = { ref: previous.ref };
  }
}

/**
 * What `--dry-run --snapshot` would do: the same batches as a run, planned with the same rules, handed to
 * `show`; nothing is created, locked or cleaned.
 */
export async function previewSnapshotRun(job: BackupJob, show: (plan: Plan) => void): Promise<StreamedBackup> {
  checkSnapshotDest(job.dest);
  const { current } = snapshotDest(job.dest);
  const latest = findSnapshot(job.dest);
  const reusable = latest === undefined ? undefined : await ReusableIndex.load(job.dest, latest.name, job.keepOwner);
  try {
    return await streamDryRun({ ...job, dest: current }, show, snapshotRules(reusable));
  } finally {
    reusable?.close();
  }
}

/** Shared inodes are never changed in place; files of a moved folder are linked from the last snapshot. */
function snapshotRules(reusable: ReusableIndex | undefined): DestRules {
  return { protectLinkedInodes: true, reusable };
}

/**
 * `backup --snapshot`: the snapshot dest as a Destination. Opened (checked, made a snapshot dest if new,
 * locked, cleaned) on its first use; a sync runs into current/ in bounded memory, then a snapshot is taken.
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

  preview(show: (plan: Plan) => void): Promise<StreamedBackup> {
    return previewSnapshotRun(this.job, show);
  }

  plan(scope?: PlanScope): Promise<PlannedBackup> {
    return this.run.plan(scope);
  }

  execute(planned: PlannedBackup, execution: StreamExecution): Promise<ExecutionReport> {
    return this.run.sync(planned, execution);
  }

  /** The sync, then a snapshot of current/ (told whether the sync had failures). */
  async sync(execution: StreamExecution, hooks?: BatchHooks): Promise<DestSync> {
    const run = this.run;
    const synced = await run.syncAll(execution, hooks);
    if (!synced.sourceFound) return synced;
    return { ...synced, snapshot: run.snapshot(syncFailures(synced).length > 0) };
  }

  close(): void {
    this.opened?.close();
    this.opened = undefined;
  }
}
