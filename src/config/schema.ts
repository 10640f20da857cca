/** The config file's shape, validated with zod so that a bad field is named with the rule it broke. */
import { z } from 'zod';
import { parseCalendarDuration } from '../common/calendar-duration.js';
import { parseSize } from '../common/size.js';

const nonEmptyPath = z.string().min(1, 'must be a non-empty path');

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
});

export type KeepConfig = z.infer<typeof KeepSchema>;
export type JobConfig = z.infer<typeof JobSchema>;
export type Config = z.infer<typeof ConfigSchema>;
