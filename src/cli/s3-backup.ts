/** `backup <src> s3://bucket/prefix`: the job's SyncTarget over an S3Store (checked before anything is written). */
import { planBetweenTrees, type BackupJob } from '../backup/backup.js';
import { IgnoreRules } from '../plan/ignore.js';
import { walkTree } from '../plan/walk.js';
import { executeOnStore } from '../store/execute-on-store.js';
import { openS3Store } from '../store/s3/open.js';
import type { SyncTarget } from './backup-command.js';

/** Uploads in flight when -j is not given: object stores reward many connections. */
export const DEFAULT_TRANSFERS = 16;

export async function s3SyncTarget(job: BackupJob, jobs: number | undefined): Promise<SyncTarget> {
  const transfers = jobs ?? DEFAULT_TRANSFERS;
  const store = await openS3Store(job.dest, job.s3 ?? {}, transfers);
  await store.abortStaleUploads();
  // A store keeps no hard links or extended attributes: the plan is made without them.
  const storeJob: BackupJob = { ...job, hardLinks: false, xattrs: false };
  return {
    async plan() {
      const ignore = new IgnoreRules(job.exclude);
      const source = walkTree(job.source, { ignore, collectTemps: true, oneFileSystem: job.oneFileSystem });
      return planBetweenTrees(storeJob, source, await store.list(), ignore);
    },
    execute: (planned, options) => executeOnStore(planned.plan, store, { sourceRoot: job.source, transfers, progress: options.progress }),
  };
}
