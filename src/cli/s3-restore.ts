/**
 * `backup restore s3://bucket/prefix [<path>...] --to <dir>`: the store's listing restored as a snapshot
 * is (same options, same keep-aside safety). The store is reached with the settings of the config job
 * whose dest holds the URL (s3-settings.ts), else the environment's.
 */
import type { RestoreTarget } from '../backup/restore.js';
import { openS3Store } from '../store/s3/open.js';
import { s3RestoreSource } from '../store/s3/restore-from.js';
import type { RestoreRun } from './restore-command.js';
import { DEFAULT_TRANSFERS } from './s3-destination.js';
import type { S3Settings } from '../store/s3/client.js';

export async function s3RestoreRun(url: string, target: RestoreTarget, settings: S3Settings, jobs: number | undefined): Promise<RestoreRun> {
  const transfers = jobs ?? DEFAULT_TRANSFERS;
  const store = await openS3Store(url, settings, transfers);
  return {
    source: await s3RestoreSource(store, target, { keepOwner: target.keepOwner, transfers }),
    target,
    from: { source: store.display },
    name: store.display,
    // The pool runs only the local actions (folders, links, metadata): the downloads are async requests.
    threads: 1,
    settings: { verify: false, keepOwner: target.keepOwner, xattrs: false },
  };
}
