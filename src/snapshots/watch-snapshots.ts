/**
 * The watch daemon's side of a snapshot dest: it syncs into current/ as often as things change, keeps
 * every file it replaces or deletes there as a hard link in versions/, and takes a snapshot at most once
 * per interval, only if something changed in it. Holds the dest's lock for as long as the job runs.
 */
import type { BackupJob, PlannedBackup, PlanScope } from '../backup/backup.js';
import type { Destination, DestSync } from '../backup/destination.js';
import type { BatchHooks, StreamedBackup, StreamExecution } from '../backup/stream.js';
import fs from 'node:fs';
import { fsPath, joinRaw, type RawPath } from '../common/raw-path.js';
import { makeFoldersBelow } from '../copy/confine.js';
import type { ExecuteOptions, ExecutionReport } from '../copy/execute.js';
import type { Plan } from '../plan/types.js';
import { listSnapshots, snapshotDest } from './layout.js';
import { previewSnapshotRun, SnapshotRun, type SnapshotOutcome } from './snapshot-run.js';
import { removeOldVersions, versionRel } from './versions.js';

export interface WatchSnapshotOptions {
  readonly everyMs: number;
  /** versions/ older than this are removed after each snapshot. */
  readonly keepVersionsMs: number;
}

/**
 * The daemon's snapshot dest, as a Destination (syncs into current/) and as the runner's snapshot
 * schedule (due, take). Opened and locked on first use: a lock held by another run fails that attempt,
 * which the daemon retries.
 */
export class WatchSnapshots implements Destination {
  private opened: SnapshotRun | undefined;
  /** Something was written to current/ since the last snapshot. */
  private changed = false;

  constructor(
    private readonly job: BackupJob,
    readonly options: WatchSnapshotOptions,
  ) {}

  get root(): string {
    return snapshotDest(this.job.dest).current;
  }

  get everyMs(): number {
    return this.options.everyMs;
  }

  /** Opened by a run: the schedule has nothing to say before. */
  get isOpen(): boolean {
    return this.opened !== undefined;
  }

  /** Opens (and locks) the dest; throws UsageError when it is not usable, DestLockedError when in use. */
  private get run(): SnapshotRun {
    if (this.opened === undefined) {
      this.opened = SnapshotRun.open(this.job);
      // A dest without any snapshot gets its first one at the first interval, changed or not.
      this.changed = listSnapshots(this.opened.dest.root).length === 0;
    }
    return this.opened;
  }

  preview(show: (plan: Plan) => void): Promise<StreamedBackup> {
    return previewSnapshotRun(this.job, show);
  }

  async plan(scope?: PlanScope): Promise<PlannedBackup> {
    return this.run.plan(scope);
  }

  async execute(planned: PlannedBackup, options: StreamExecution): Promise<ExecutionReport> {
    const run = this.run;
    const report = await run.sync(planned, { ...options, keepReplaced: this.keepReplaced(run) });
    this.noteChanges(planned.plan);
    return report;
  }

  /** The whole tree, a batch of folders at a time, replaced files kept in versions/ as by `execute`. */
  async sync(execution: StreamExecution, hooks: BatchHooks = {}): Promise<DestSync> {
    const run = this.run;
    const executed = (plan: Plan, report: ExecutionReport) => {
      this.noteChanges(plan);
      hooks.executed?.(plan, report);
    };
    return run.syncAll({ ...execution, keepReplaced: this.keepReplaced(run) }, { ...hooks, executed });
  }

  private noteChanges(plan: Plan): void {
    if (plan.actions.some((a) => a.type !== 'remove-temp')) this.changed = true;
  }

  private keepReplaced(run: SnapshotRun): NonNullable<ExecuteOptions['keepReplaced']> {
    return { root: this.versionsRoot(run), relFor: (rel: RawPath) => versionRel(rel, new Date()) };
  }

  /**
   * versions/ by the dest's real path, made if missing: the versions are placed through checked parents
   * below it (a folder in versions/ swapped for a symlink fails that check instead of leading elsewhere).
   */
  private versionsRoot(run: SnapshotRun): RawPath {
    const root = fs.realpathSync(fsPath(run.dest.root), { encoding: 'latin1' });
    makeFoldersBelow(root, 'versions');
    return joinRaw(root, 'versions');
  }

  get due(): boolean {
    return this.changed;
  }

  /** The newest snapshot's name. */
  get latest(): string | undefined {
    return listSnapshots(this.job.dest).at(-1)?.name;
  }

  /** A snapshot of current/, then old versions go. */
  take(failed: boolean): SnapshotOutcome {
    const outcome = this.run.snapshot(failed);
    if (outcome.ok) {
      this.changed = false;
      removeOldVersions(this.run.dest.versions, this.options.keepVersionsMs);
    }
    return outcome;
  }

  close(): void {
    this.opened?.close();
    this.opened = undefined;
  }
}
