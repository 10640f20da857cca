/**
 * Calendar durations as restic writes them: years (y), months (m),
 * days (d) and hours (h), each at most once, e.g. `1y2m3d4h`. Months and years are calendar steps, not
 * fixed lengths, so "1m" back from March 31 is March 3 (February 31, normalised), exactly as Go's
 * AddDate and JavaScript's Date.UTC count.
 */

export interface CalendarDuration {
  readonly years: number;
  readonly months: number;
  readonly days: number;
  readonly hours: number;
}

const UNITS = { y: 'years', m: 'months', d: 'days', h: 'hours' } as const;
const PART_RE = /(\d+)([ymdh])/gy;

/** The duration `text` stands for, or undefined when it is not one (empty, unknown unit, repeated unit). */
export function parseCalendarDuration(text: string): CalendarDuration | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  const parts: Record<string, number> = { years: 0, months: 0, days: 0, hours: 0 };
  const seen = new Set<string>();
  PART_RE.lastIndex = 0;
  let consumed = 0;
  for (let m = PART_RE.exec(trimmed); m !== null; m = PART_RE.exec(trimmed)) {
    const unit = UNITS[m[2] as keyof typeof UNITS];
    if (seen.has(unit)) return undefined;
    seen.add(unit);
    parts[unit] = Number(m[1]);
    consumed = PART_RE.lastIndex;
  }
  if (consumed !== trimmed.length) return undefined;
  const duration = parts as unknown as CalendarDuration;
  return Number.isSafeInteger(duration.years + duration.months + duration.days + duration.hours) ? duration : undefined;
}

export function isZeroDuration(d: CalendarDuration): boolean {
  return d.years === 0 && d.months === 0 && d.days === 0 && d.hours === 0;
}

/** `1y2m3d4h`, leaving out zero parts (restic's spelling). */
export function formatCalendarDuration(d: CalendarDuration): string {
  const text = `${d.years ? `${d.years}y` : ''}${d.months ? `${d.months}m` : ''}${d.days ? `${d.days}d` : ''}${d.hours ? `${d.hours}h` : ''}`;
  return text === '' ? '0h' : text;
}

/** `time` minus `d`: calendar years, months and days first (normalised like Go's AddDate), then hours. */
export function subtractCalendarDuration(time: Date, d: CalendarDuration): Date {
  const shifted = new Date(time.getTime());
  shifted.setUTCFullYear(time.getUTCFullYear() - d.years, time.getUTCMonth() - d.months, time.getUTCDate() - d.days);
  return new Date(shifted.getTime() - d.hours * 3_600_000);
}
