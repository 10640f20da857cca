/** `s3://bucket/prefix` dests: the job's StoreDestination over a checked S3Store. Loaded only for s3:// paths (the SDK's start-up cost). */
import type { BackupJob } from '../backup/backup.js';
import type { Destination } from '../backup/destination.js';
import { StoreDestination } from '../store/store-destination.js';
import { openS3Store } from '../store/s3/open.js';

/** Uploads in flight when -j is not given: object stores reward many connections. */
export const DEFAULT_TRANSFERS = 16;

/** Checked before anything is written (UsageError, exit 2, when the store refuses us); a killed run's uploads found. */
export async function openS3Destination(job: BackupJob, jobs: number | undefined): Promise<Destination> {
  const transfers = jobs ?? DEFAULT_TRANSFERS;
  const store = await openS3Store(job.dest, job.s3 ?? {}, transfers);
  // While the dest is listed; the dest waits for it before its plan is used, so no upload of this run
  // can be taken for a killed run's.
  const found = store.findStaleUploads();
  found.catch(() => undefined);
  return new StoreDestination(job, store, transfers, found);
}
