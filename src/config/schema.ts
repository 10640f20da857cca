/** The config file's shape, validated with zod so that a bad field is named with the rule it broke. */
import { z } from 'zod';
import { parseCalendarDuration } from '../common/calendar-duration.js';
import { parseDuration } from '../common/duration.js';
import { parseSize } from '../common/size.js';

const nonEmptyPath = z.string().min(1, 'must be a non-empty path');
const duration = z.string().refine((s) => parseDuration(s) !== undefined, 'must be a duration such as 30s, 15m, 1h, 7d or 1h30m');

const keepCount = z.number().int().min(0).optional();

/** Retention rules of a snapshot job (restic's, as `backup prune` takes them); the run prunes after itself. */
export const KeepSchema = z.strictObject({
  last: keepCount,
  hourly: keepCount,
  daily: keepCount,
  weekly: keepCount,
  monthly: keepCount,
  yearly: keepCount,
  within: z
    .string()
    .refine((s) => parseCalendarDuration(s) !== undefined, 'must be a duration of years, months, days and hours, such as 7d or 1y6m')
    .optional(),
});

export const JobSchema = z.strictObject({
  source: nonEmptyPath,
  dest: nonEmptyPath.optional(),
  exclude: z.array(z.string()).default([]),
  delete: z.boolean().default(false),
  keep: KeepSchema.optional(),
  /** What `backup ctl`, `status` and `log` call the job (default: its source path). */
  name: z.string().min(1, 'must be a non-empty name').optional(),
  /** `backup status` exits 1 when the job's last success is older than this and it is not current. */
  maxAge: duration.optional(),
  /** Back up into a snapshot dest: current/, then a snapshot per run. */
  snapshot: z.boolean().optional(),
  /** Watch: a snapshot dest, snapshotted this often (e.g. "1h") when something changed. */
  snapshotEvery: duration.optional(),
  /** Watch: how long versions/ keeps replaced and deleted files (default "30d"). */
  keepVersions: duration.optional(),
  /** s3:// dests: a self-hosted store's URL (else AWS_ENDPOINT_URL, else AWS). */
  endpoint: z.url().optional(),
  /** s3:// dests: bucket in the path, not the host name (default: true with an endpoint). */
  pathStyle: z.boolean().optional(),
  /** s3:// dests: the bucket's region (else AWS_REGION). */
  region: z.string().min(1).optional(),
  /** s3:// dests: a request that sends and receives nothing for this long is given up and retried (default "2m"). */
  stallTimeout: duration.optional(),
});

export const ConfigSchema = z.strictObject({
  /** Worker threads; null picks from the machine. */
  threads: z.number().int().min(1).max(256).nullable(),
  /** gitignore-style patterns applied to every job. */
  exclude: z.array(z.string()),
  /** Assembly block size, e.g. "8MiB". */
  blockSize: z.string().refine((s) => parseSize(s) !== undefined, 'must be a size such as 8MiB, 512k or 1G'),
  /** Watch: how long a file must be quiet before it is copied. */
  settleMs: z.number().int().min(0).max(600_000),
  logFormat: z.enum(['text', 'json']),
  jobs: z.array(JobSchema),
  /** The daemon's control socket (default: $XDG_RUNTIME_DIR/backupd/control.sock, see src/control/paths.ts). */
  control: nonEmptyPath.optional(),
  /** The status page and HTTP API: "127.0.0.1:8470" (`--http` overrides). */
  http: z.string().min(1).optional(),
  /** Allow `http` to listen on a non-loopback address (the token is required all the same). */
  httpAllowRemote: z.boolean().optional(),
  /** Background downloads (`assemble --background`): how many the daemon runs at once. */
  downloads: z.strictObject({ parallel: z.number().int().min(1).max(64) }).optional(),
});

export type KeepConfig = z.infer<typeof KeepSchema>;
export type JobConfig = z.infer<typeof JobSchema>;
export type Config = z.infer<typeof ConfigSchema>;
