/** `backup <src> s3://bucket/prefix`: the job's SyncTarget over an S3Store (checked before anything is written). */
import { planBetweenTrees, type BackupJob, type PlanScope, type StoreSync } from '../backup/backup.js';
import { treeWithin } from '../store/within.js';
import { IgnoreRules } from '../plan/ignore.js';
import { walkTree } from '../plan/walk.js';
import { executeOnStore } from '../store/execute-on-store.js';
import { openS3Store } from '../store/s3/open.js';

/** Uploads in flight when -j is not given: object stores reward many connections. */
export const DEFAULT_TRANSFERS = 16;

export async function s3SyncTarget(job: BackupJob, jobs: number | undefined): Promise<StoreSync> {
  const transfers = jobs ?? DEFAULT_TRANSFERS;
  const store = await openS3Store(job.dest, job.s3 ?? {}, transfers);
  await store.abortStaleUploads();
  // A store keeps no hard links or extended attributes: the plan is made without them.
  const storeJob: BackupJob = { ...job, hardLinks: false, xattrs: false };
  return {
    async plan(scope?: PlanScope) {
      const ignore = scope?.ignore ?? new IgnoreRules(job.exclude);
      const source = walkTree(job.source, { ignore, only: scope?.only, collectTemps: true, oneFileSystem: job.oneFileSystem });
      const listed = await store.list();
      return planBetweenTrees(storeJob, source, scope === undefined ? listed : treeWithin(listed, scope.only), ignore);
    },
    execute: (planned, options) => executeOnStore(planned.plan, store, { sourceRoot: job.source, transfers, progress: options.progress }),
  };
}
