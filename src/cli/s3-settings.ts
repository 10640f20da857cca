/**
 * A config job's `endpoint`, `pathStyle`, `region` and `stallTimeout` for an s3:// URL. A backup or watch job uses its
 * own; `restore` and `assemble` from s3:// use those of the configured job whose dest holds the URL: the
 * same bucket, and a dest prefix that is the URL's path or a folder above it (the longest such prefix
 * when several jobs qualify). A URL no job holds uses the environment alone (AWS_ENDPOINT_URL, …).
 */
import { parseDuration } from '../common/duration.js';
import type { Config, JobConfig } from '../config/schema.js';
import type { S3Settings } from '../store/s3/client.js';
import { parseS3Url } from '../store/s3/keys.js';

export function s3SettingsOfJob(job: JobConfig): S3Settings {
  const { endpoint, pathStyle, region, stallTimeout } = job;
  // The schema has checked the duration.
  const stallTimeoutMs = stallTimeout === undefined ? undefined : parseDuration(stallTimeout);
  return {
    ...(endpoint === undefined ? {} : { endpoint }),
    ...(pathStyle === undefined ? {} : { pathStyle }),
    ...(region === undefined ? {} : { region }),
    ...(stallTimeoutMs === undefined ? {} : { stallTimeoutMs }),
  };
}

export function s3SettingsFor(url: string, config: Config): S3Settings {
  const wanted = parseS3Url(url);
  if (wanted === undefined) return {};
  // parseS3Url gives a folder prefix (`home/docs/`): an object's key `home/docs/a.txt` becomes one too.
  let best: { job: JobConfig; prefix: string } | undefined;
  for (const job of config.jobs) {
    const dest = job.dest === undefined ? undefined : parseS3Url(job.dest);
    if (dest === undefined || dest.bucket !== wanted.bucket || !wanted.prefix.startsWith(dest.prefix)) continue;
    if (best === undefined || dest.prefix.length > best.prefix.length) best = { job, prefix: dest.prefix };
  }
  return best === undefined ? {} : s3SettingsOfJob(best.job);
}
