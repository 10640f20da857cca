/**
 * An object store as a Destination: the dest Tree is the store's listing, the plan the ordinary planner's,
 * and execute-on-store.ts runs it against the store. A full sync is one plan of the whole tree (a listing
 * cannot be read a folder at a time the way a folder can).
 */
import { planBetweenTrees, type BackupJob, type PlannedBackup, type PlanScope } from '../backup/backup.js';
import { previewWholeTree, syncWholeTree, type Destination, type DestSync } from '../backup/destination.js';
import type { BatchHooks, StreamedBackup, StreamExecution } from '../backup/stream.js';
import type { Plan } from '../plan/types.js';
import type { ExecutionReport } from '../copy/execute.js';
import { IgnoreRules } from '../plan/ignore.js';
import { walkTree } from '../plan/walk.js';
import { executeOnStore } from './execute-on-store.js';
import type { DestStore } from './types.js';
import { treeWithin } from './within.js';

export class StoreDestination implements Destination {
  /** The job as planned: a store keeps no hard links or extended attributes. */
  private readonly job: BackupJob;

  constructor(
    job: BackupJob,
    private readonly store: DestStore,
    /** Uploads in flight. */
    private readonly transfers: number,
    /** What the store must finish before it is planned against (and written): a killed run's uploads found. */
    private readonly ready: Promise<unknown> = Promise.resolve(),
  ) {
    this.job = { ...job, hardLinks: false, xattrs: false };
  }

  get root(): string {
    return this.job.dest;
  }

  async preview(show: (plan: Plan) => void): Promise<StreamedBackup> {
    return previewWholeTree(await this.plan(), show);
  }

  async plan(scope?: PlanScope): Promise<PlannedBackup> {
    const { job } = this;
    const ignore = scope?.ignore ?? new IgnoreRules(job.exclude);
    const source = walkTree(job.source, { ignore, only: scope?.only, collectTemps: true, oneFileSystem: job.oneFileSystem });
    const [listed] = await Promise.all([this.store.list(), this.ready]);
    return planBetweenTrees(job, source, scope === undefined ? listed : treeWithin(listed, scope.only), ignore);
  }

  execute(planned: PlannedBackup, execution: StreamExecution): Promise<ExecutionReport> {
    return executeOnStore(planned.plan, this.store, { sourceRoot: this.job.source, transfers: this.transfers, progress: execution.progress, stop: execution.stop });
  }

  async sync(execution: StreamExecution, hooks?: BatchHooks): Promise<DestSync> {
    return (await syncWholeTree(this, execution, hooks)).synced;
  }

  close(): void {}
}
