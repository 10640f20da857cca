/**
 * An s3:// object as an assemble source: a presigned GET URL, read by the ordinary HTTP source (ranged
 * GETs, validators, retries). S3 is one more mirror. `s3://bucket/prefix/` (a folder) names the object
 * `<prefix><name>` with the key encoding of backups (keys.ts), so a backed-up file can be assembled from.
 */
import { GetObjectCommand } from './sdk.js';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { RawPath } from '../../common/raw-path.js';
import type { S3Settings } from './client.js';
import { keyOfRel, parseS3Url } from './keys.js';
import { S3Store } from './s3-store.js';

/** Long enough for a slow download to finish; SigV4 allows at most 7 days. */
const URL_LIFETIME_S = 24 * 3600;

export async function presignedUrl(url: string, name: RawPath, settings: S3Settings): Promise<URL> {
  const parsed = parseS3Url(url);
  if (parsed === undefined) throw new Error(`${url}: not an s3://<bucket>/<key> URL`);
  const store = new S3Store(parsed.bucket, parsed.prefix, settings, 4);
  await store.check();
  const key = url.endsWith('/') || parsed.prefix === '' ? parsed.prefix + keyOfRel(name) : parsed.prefix.slice(0, -1);
  return new URL(await getSignedUrl(store.client, new GetObjectCommand({ Bucket: parsed.bucket, Key: key }), { expiresIn: URL_LIFETIME_S }));
}
