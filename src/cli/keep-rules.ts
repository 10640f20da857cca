/** Keep rules from `backup prune`'s options and from a config job's `"keep"`: the same rules either way. */
import { InvalidArgumentError } from 'commander';
import { parseCalendarDuration, type CalendarDuration } from '../common/calendar-duration.js';
import type { KeepConfig } from '../config/schema.js';
import type { RetentionRules } from '../snapshots/retention.js';

export interface KeepOptions {
  readonly keepLast?: number;
  readonly keepHourly?: number;
  readonly keepDaily?: number;
  readonly keepWeekly?: number;
  readonly keepMonthly?: number;
  readonly keepYearly?: number;
  readonly keepWithin?: CalendarDuration;
}

export function parseKeepCount(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError('must be a whole number (0 turns the rule off).');
  return Number(value);
}

export function parseKeepWithin(value: string): CalendarDuration {
  const duration = parseCalendarDuration(value);
  if (duration === undefined) throw new InvalidArgumentError('must be a duration of years, months, days and hours, such as 7d, 36h or 1y6m.');
  return duration;
}

export function keepRulesFromOptions(options: KeepOptions): RetentionRules {
  return {
    last: options.keepLast,
    hourly: options.keepHourly,
    daily: options.keepDaily,
    weekly: options.keepWeekly,
    monthly: options.keepMonthly,
    yearly: options.keepYearly,
    within: options.keepWithin,
  };
}

/** A config job's `"keep"` (validated by the schema, so its `within` parses). */
export function keepRulesFromConfig(keep: KeepConfig): RetentionRules {
  const { within, ...counts } = keep;
  return { ...counts, within: within === undefined ? undefined : parseCalendarDuration(within) };
}
