/**
 * Which snapshots a set of keep rules keeps, and why: restic's `forget` policy (internal/data/
 * snapshot_policy.go), as a pure function of the snapshot times, the rules and "now".
 *
 * - Snapshots are taken newest first. `last N` keeps the N newest.
 * - `hourly/daily/weekly/monthly/yearly N`: walking from the newest, a snapshot whose period differs from
 *   the previous kept one of that rule is the newest of its period and is kept, until N periods are
 *   used. Periods with no snapshot cost nothing, so the N are the N most recent periods that have one.
 *   When a rule still has periods left at the oldest snapshot, that snapshot is kept too (reason marked
 *   "oldest"): restic does this so that a young history is kept whole.
 * - Periods are of UTC time (the time in the snapshot's name); weeks are ISO 8601 weeks (Monday first,
 *   week 1 holds the year's first Thursday), so a week across New Year is one period.
 * - `within D` keeps every snapshot strictly after (newest - D), newest being the newest snapshot that is
 *   not in the future (clock skew must not widen or narrow the window); if every snapshot is in the
 *   future, all are within.
 * - Rules are OR'ed; a rule of 0 is no rule. The newest snapshot is always kept: every rule keeps it, and
 *   the function keeps it (reason "newest") even for rules that keep nothing.
 */
import { formatCalendarDuration, isZeroDuration, subtractCalendarDuration, type CalendarDuration } from '../common/calendar-duration.js';

export interface RetentionRules {
  readonly last?: number;
  readonly hourly?: number;
  readonly daily?: number;
  readonly weekly?: number;
  readonly monthly?: number;
  readonly yearly?: number;
  readonly within?: CalendarDuration;
}

export interface Dated {
  readonly name: string;
  readonly time: Date;
}

export interface RetentionDecision<T extends Dated> {
  readonly snapshot: T;
  /** Empty when the snapshot is to be removed. */
  readonly reasons: readonly string[];
}

export const PERIOD_RULES = ['hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;
type PeriodRule = (typeof PERIOD_RULES)[number];

/** The label of the period a time falls in; equal labels are the same period. */
const PERIOD_OF: Record<PeriodRule, (t: Date) => string> = {
  hourly: (t) => t.toISOString().slice(0, 13),
  daily: (t) => t.toISOString().slice(0, 10),
  weekly: isoWeek,
  monthly: (t) => t.toISOString().slice(0, 7),
  yearly: (t) => t.toISOString().slice(0, 4),
};

/** True when the rules keep anything at all (a rule of 0 or a zero duration is no rule). */
export function hasRule(rules: RetentionRules): boolean {
  return (rules.last ?? 0) > 0 || PERIOD_RULES.some((p) => (rules[p] ?? 0) > 0) || (rules.within !== undefined && !isZeroDuration(rules.within));
}

/**
 * One decision per snapshot, in the order given. `snapshots` in any order; ties in time keep their
 * given order (the later one counts as newer), so names -1, -2 within one second sort as listed.
 */
export function applyRetention<T extends Dated>(snapshots: readonly T[], rules: RetentionRules, now: Date): RetentionDecision<T>[] {
  const newestFirst = snapshots
    .map((snapshot, index) => ({ snapshot, index }))
    .sort((a, b) => b.snapshot.time.getTime() - a.snapshot.time.getTime() || b.index - a.index);
  const reasons = new Map<number, string[]>(newestFirst.map(({ index }) => [index, []]));
  const withinCutoff = cutoffOf(rules.within, snapshots, now);
  const withinText = rules.within === undefined ? '' : formatCalendarDuration(rules.within);
  let lastLeft = rules.last ?? 0;
  const periods = PERIOD_RULES.map((rule) => ({ rule, left: rules[rule] ?? 0, previous: undefined as string | undefined }));

  newestFirst.forEach(({ snapshot, index }, rank) => {
    const why = reasons.get(index) as string[];
    const isOldest = rank === newestFirst.length - 1;
    if (withinCutoff !== undefined && snapshot.time.getTime() > withinCutoff) why.push(`within ${withinText}`);
    if (lastLeft > 0) {
      why.push(`last ${rank + 1}`);
      lastLeft--;
    }
    for (const period of periods) {
      if (period.left <= 0) continue;
      const label = PERIOD_OF[period.rule](snapshot.time);
      if (label === period.previous && !isOldest) continue;
      why.push(label === period.previous ? `${period.rule} ${label} (oldest)` : `${period.rule} ${label}`);
      period.previous = label;
      period.left--;
    }
  });
  const newest = newestFirst[0];
  if (newest !== undefined && reasons.get(newest.index)?.length === 0) reasons.get(newest.index)?.push('newest');
  return snapshots.map((snapshot, index) => ({ snapshot, reasons: reasons.get(index) as string[] }));
}

/** Milliseconds after which a snapshot is within `within`, or undefined without the rule. */
function cutoffOf(within: CalendarDuration | undefined, snapshots: readonly Dated[], now: Date): number | undefined {
  if (within === undefined || isZeroDuration(within)) return undefined;
  let newest: Date | undefined;
  for (const { time } of snapshots) if (time < now && (newest === undefined || time > newest)) newest = time;
  return newest === undefined ? -Infinity : subtractCalendarDuration(newest, within).getTime();
}

/** `2026-W48`: the ISO 8601 week-numbering year and week of a UTC time. */
function isoWeek(t: Date): string {
  const day = (t.getUTCDay() + 6) % 7; // Monday 0 … Sunday 6
  // The Thursday of this week decides the year; the week is counted from that year's first Thursday.
  const thursday = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate() - day + 3));
  const year = thursday.getUTCFullYear();
  const firstThursday = new Date(Date.UTC(year, 0, 4));
  const firstWeekThursday = firstThursday.getTime() - ((firstThursday.getUTCDay() + 6) % 7) * 86_400_000 + 3 * 86_400_000;
  const week = 1 + Math.round((thursday.getTime() - firstWeekThursday) / (7 * 86_400_000));
  return `${year}-W${String(week).padStart(2, '0')}`;
}
