/** An s3:// URL → a checked S3Store (UsageError, exit 2, for a malformed URL or a store that refuses us). */
import { UsageError } from '../../common/errors.js';
import type { S3Settings } from './client.js';
import { parseS3Url } from './keys.js';
import { S3Store } from './s3-store.js';

export async function openS3Store(url: string, settings: S3Settings, transfers: number): Promise<S3Store> {
  const parsed = parseS3Url(url);
  if (parsed === undefined) throw new UsageError(`${url}: not an s3://<bucket>/<prefix> URL`, 'EBADURL');
  const store = new S3Store(parsed.bucket, parsed.prefix, settings, transfers);
  await store.check();
  return store;
}
