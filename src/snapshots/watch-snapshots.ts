/**
 * The watch daemon's side of a snapshot dest: it syncs into current/ as often as things change, keeps
 * every file it replaces or deletes there as a hard link in versions/, and takes a snapshot at most once
 * per interval, only if something changed in it. Holds the dest's lock for as long as the job runs.
 */
import type { BackupJob, PlannedBackup, PlanScope } from '../backup/backup.js';
import fs from 'node:fs';
import { fsPath, joinRaw, type RawPath } from '../common/raw-path.js';
import { makeFoldersBelow } from '../copy/confine.js';
import type { ExecuteOptions, ExecutionReport } from '../copy/execute.js';
import type { IgnoreRules } from '../plan/ignore.js';
import { walkTree } from '../plan/walk.js';
import { listSnapshots } from './layout.js';
import { SnapshotRun, type SnapshotOutcome } from './snapshot-run.js';
import { removeOldVersions, versionRel } from './versions.js';

export interface WatchSnapshotOptions {
  readonly everyMs: number;
  /** versions/ older than this are removed after each snapshot. */
  readonly keepVersionsMs: number;
}

export class WatchSnapshots {
  /** Something was written to current/ since the last snapshot. */
  private changed: boolean;

  private constructor(
    private readonly run: SnapshotRun,
    readonly options: WatchSnapshotOptions,
  ) {
    // A dest without any snapshot gets its first one at the first interval, changed or not.
    this.changed = listSnapshots(run.dest.root).length === 0;
  }

  /** Opens (and locks) the dest; throws UsageError when it is not usable, DestLockedError when in use. */
  static open(job: BackupJob, options: WatchSnapshotOptions): WatchSnapshots {
    return new WatchSnapshots(SnapshotRun.open(job), options);
  }

  plan(scope?: PlanScope): PlannedBackup {
    return this.run.plan(scope);
  }

  async sync(planned: PlannedBackup, options: Omit<ExecuteOptions, 'sourceRoot' | 'destRoot' | 'reuseRoot' | 'keepReplaced'>): Promise<ExecutionReport> {
    const keepReplaced = { root: this.versionsRoot(), relFor: (rel: RawPath) => versionRel(rel, new Date()) };
    const report = await this.run.sync(planned, { ...options, keepReplaced });
    if (planned.plan.actions.some((a) => a.type !== 'remove-temp')) this.changed = true;
    return report;
  }

  /**
   * versions/ by the dest's real path, made if missing: the versions are placed through checked parents
   * below it (a folder in versions/ swapped for a symlink fails that check instead of leading elsewhere).
   */
  private versionsRoot(): RawPath {
    const root = fs.realpathSync(fsPath(this.run.dest.root), { encoding: 'latin1' });
    makeFoldersBelow(root, 'versions');
    return joinRaw(root, 'versions');
  }

  get due(): boolean {
    return this.changed;
  }

  /** The newest snapshot's name. */
  get latest(): string | undefined {
    return listSnapshots(this.run.dest.root).at(-1)?.name;
  }

  /** A snapshot of current/ (the source walked once for the manifest's identities), then old versions go. */
  take(ignore: IgnoreRules, failed: boolean): SnapshotOutcome {
    const source = walkTree(this.run.job.source, { ignore, collectTemps: true });
    const outcome = this.run.snapshot(source, failed);
    if (outcome.ok) {
      this.changed = false;
      removeOldVersions(this.run.dest.versions, this.options.keepVersionsMs);
    }
    return outcome;
  }

  close(): void {
    this.run.close();
  }
}
