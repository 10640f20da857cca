/**
 * The one place that picks a job's Destination from the form of its dest: `s3://…` an object store, a
 * snapshot dest (--snapshot, a config job's `snapshot`, a watch's --snapshot-every) its current/ plus
 * snapshots, anything else a plain folder. Everything past this point sees only the Destination.
 */
import type { BackupJob } from '../backup/backup.js';
import { lazyDestination, type Destination } from '../backup/destination.js';
import { FolderDestination } from '../backup/folder-destination.js';
import { UsageError } from '../common/errors.js';
import { displayPath } from '../common/raw-path.js';
import { refusePlainBackupInto } from '../snapshots/open-dest.js';
import type { WatchSnapshotOptions } from '../snapshots/watch-snapshots.js';
import { isS3Url } from '../store/s3/keys.js';
import type { WatchJob } from '../watch/job-runner.js';

/** `backup`'s dest; an s3:// store is checked here (exit 2 before anything is written when it refuses us). */
export async function backupDestination(job: BackupJob, transfers: number | undefined): Promise<Destination> {
  if (isS3Url(job.dest)) {
    refuseLinksOnStore(job);
    return (await import('./s3-destination.js')).openS3Destination(job, transfers);
  }
  if (job.snapshot === true) {
    // Loaded only for snapshot dests: a plain rerun would pay for modules it never runs (~3 ms).
    return new (await import('../snapshots/snapshot-run.js')).SnapshotRunDestination(job);
  }
  refusePlainBackupInto(job.dest);
  return new FolderDestination(job);
}

/**
 * The daemon's dest, opened by its first run: a store or a locked snapshot dest that refuses us is a
 * failed run, retried with backoff, not a daemon that does not start. A snapshot dest is also the job's
 * snapshot schedule.
 */
export async function watchDestination(
  job: BackupJob,
  snapshots: WatchSnapshotOptions | undefined,
  transfers: number | undefined,
): Promise<Pick<WatchJob, 'destination' | 'snapshots'>> {
  if (isS3Url(job.dest)) {
    refuseLinksOnStore(job);
    return { destination: lazyDestination(job.dest, async () => (await import('./s3-destination.js')).openS3Destination(job, transfers)) };
  }
  if (snapshots !== undefined) {
    const watched = new (await import('../snapshots/watch-snapshots.js')).WatchSnapshots(job, snapshots);
    return { destination: watched, snapshots: watched };
  }
  return { destination: new FolderDestination(job) };
}

/**
 * An object store keeps no hard links: no snapshot of it could share unchanged files, and linked files
 * could only become separate copies. Asked for, they are refused, not ignored.
 */
function refuseLinksOnStore(job: BackupJob): void {
  if (job.snapshot === true) throw new UsageError(`${displayPath(job.dest)}: snapshots are not supported on s3:// dests`, 'ESNAPSHOTDEST');
  if (job.hardLinks) throw new UsageError(`${displayPath(job.dest)}: --hard-links is not supported on s3:// dests (an object store has no hard links)`, 'EHARDLINKSDEST');
}
