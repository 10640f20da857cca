/**
 * The watch daemon's s3:// dest: a StoreSync that loads the SDK and checks the store on its first plan
 * (jobs are made synchronously; a store that refuses us is then a failed run, retried with backoff).
 */
import type { BackupJob, StoreSync } from '../backup/backup.js';

export function lazyStoreSync(job: BackupJob, transfers: number | undefined): StoreSync {
  let opened: Promise<StoreSync> | undefined;
  const open = (): Promise<StoreSync> => {
    opened ??= import('./s3-backup.js').then((m) => m.s3SyncTarget(job, transfers));
    opened.catch(() => {
      opened = undefined;
    });
    return opened;
  };
  return {
    plan: async (scope) => (await open()).plan(scope),
    execute: async (planned, options) => (await open()).execute(planned, options),
  };
}
