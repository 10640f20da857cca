import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatCalendarDuration, parseCalendarDuration, subtractCalendarDuration, type CalendarDuration } from '../../src/common/calendar-duration.js';
import { applyRetention, hasRule, type RetentionRules } from '../../src/snapshots/retention.js';

const NOW = new Date('2027-01-01T00:00:00Z');

function duration(text: string): CalendarDuration {
  const d = parseCalendarDuration(text);
  if (d === undefined) throw new Error(`bad duration in test: ${text}`);
  return d;
}

/** Snapshots from ISO times, oldest first as listing gives them; names like the layout's. */
function snaps(...times: string[]) {
  return times.map((iso, i) => ({ name: `s${i}:${iso}`, time: new Date(iso) }));
}

/** `{time: reasons}` of the kept snapshots only, for compact expectations. */
function kept(times: string[], rules: RetentionRules, now = NOW): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  for (const d of applyRetention(snaps(...times), rules, now)) {
    if (d.reasons.length > 0) result[d.snapshot.name.slice(d.snapshot.name.indexOf(':') + 1)] = [...d.reasons];
  }
  return result;
}

describe('calendar durations', () => {
  it.each([
    ['7d', { years: 0, months: 0, days: 7, hours: 0 }],
    ['1y2m3d4h', { years: 1, months: 2, days: 3, hours: 4 }],
    ['1y1d1m', { years: 1, months: 1, days: 1, hours: 0 }],
    [' 36h ', { years: 0, months: 0, days: 0, hours: 36 }],
  ])('parses %j', (text, expected) => {
    expect(parseCalendarDuration(text)).toEqual(expected);
  });

  it.each(['', '7', 'd', '7w', '-1d', '1d1d', '1.5d', '7 d', '1d x'])('rejects %j', (text) => {
    expect(parseCalendarDuration(text)).toBeUndefined();
  });

  it('subtracts calendar months and years as Go AddDate does (overflow normalised), then hours', () => {
    expect(subtractCalendarDuration(new Date('2026-03-31T12:00:00Z'), duration('1m')).toISOString()).toBe('2026-03-03T12:00:00.000Z');
    expect(subtractCalendarDuration(new Date('2024-02-29T00:00:00Z'), duration('1y')).toISOString()).toBe('2023-03-01T00:00:00.000Z');
    expect(subtractCalendarDuration(new Date('2026-01-01T01:00:00Z'), duration('1d2h')).toISOString()).toBe('2025-12-30T23:00:00.000Z');
    expect(formatCalendarDuration(duration('1d1y'))).toBe('1y1d');
  });
});

describe('retention rules', () => {
  it('keep-last keeps the N newest, each with its rank', () => {
    expect(kept(['2026-12-01T00:00:00Z', '2026-12-02T00:00:00Z', '2026-12-03T00:00:00Z', '2026-12-04T00:00:00Z'], { last: 2 })).toEqual({
      '2026-12-04T00:00:00Z': ['last 1'],
      '2026-12-03T00:00:00Z': ['last 2'],
    });
  });

  it('daily keeps the newest of each day, at UTC midnight boundaries', () => {
    const times = ['2026-11-30T23:59:59Z', '2026-12-01T00:00:00Z', '2026-12-01T23:59:59Z', '2026-12-02T00:00:00Z'];
    expect(kept(times, { daily: 2 })).toEqual({ '2026-12-02T00:00:00Z': ['daily 2026-12-02'], '2026-12-01T23:59:59Z': ['daily 2026-12-01'] });
  });

  it('hourly, monthly and yearly periods end exactly at their boundary', () => {
    expect(kept(['2026-12-01T13:59:59Z', '2026-12-01T14:00:00Z', '2026-12-01T14:30:00Z'], { hourly: 2 })).toEqual({
      '2026-12-01T14:30:00Z': ['hourly 2026-12-01T14'],
      '2026-12-01T13:59:59Z': ['hourly 2026-12-01T13'],
    });
    expect(kept(['2026-10-31T23:59:59Z', '2026-11-01T00:00:00Z', '2026-11-30T23:59:59Z', '2026-12-01T00:00:00Z'], { monthly: 2 })).toEqual({
      '2026-12-01T00:00:00Z': ['monthly 2026-12'],
      '2026-11-30T23:59:59Z': ['monthly 2026-11'],
    });
    expect(kept(['2025-06-01T00:00:00Z', '2025-12-31T23:59:59Z', '2026-01-01T00:00:00Z'], { yearly: 2 })).toEqual({
      '2026-01-01T00:00:00Z': ['yearly 2026'],
      '2025-12-31T23:59:59Z': ['yearly 2025'],
    });
  });

  it('weekly uses ISO weeks: Monday starts a week, and a week across New Year is one period', () => {
    // 2026-12-28 is a Monday; 2027-01-03 (Sunday) is still in 2026-W53.
    const times = ['2026-12-27T23:59:59Z', '2026-12-28T00:00:00Z', '2027-01-03T23:00:00Z', '2027-01-04T00:00:00Z'];
    expect(kept(times, { weekly: 3 }, new Date('2027-02-01T00:00:00Z'))).toEqual({
      '2027-01-04T00:00:00Z': ['weekly 2027-W01'],
      '2027-01-03T23:00:00Z': ['weekly 2026-W53'],
      '2026-12-27T23:59:59Z': ['weekly 2026-W52'],
    });
  });

  it('counts periods that have a snapshot: gaps cost nothing', () => {
    const times = ['2026-01-15T00:00:00Z', '2026-06-15T00:00:00Z', '2026-06-16T00:00:00Z', '2026-12-01T00:00:00Z'];
    expect(kept(times, { daily: 3 })).toEqual({
      '2026-12-01T00:00:00Z': ['daily 2026-12-01'],
      '2026-06-16T00:00:00Z': ['daily 2026-06-16'],
      '2026-06-15T00:00:00Z': ['daily 2026-06-15'],
    });
  });

  it('keeps the oldest snapshot too while a rule has periods left (restic), marked oldest', () => {
    const times = ['2026-12-01T08:00:00Z', '2026-12-01T09:00:00Z', '2026-12-02T10:00:00Z'];
    expect(kept(times, { daily: 5 })).toEqual({
      '2026-12-02T10:00:00Z': ['daily 2026-12-02'],
      '2026-12-01T09:00:00Z': ['daily 2026-12-01'],
      '2026-12-01T08:00:00Z': ['daily 2026-12-01 (oldest)'],
    });
  });

  it('OR-s rules and lists every reason', () => {
    const times = ['2026-11-30T10:00:00Z', '2026-12-01T10:00:00Z', '2026-12-01T11:00:00Z'];
    expect(kept(times, { last: 1, daily: 2, within: duration('1h') })).toEqual({
      '2026-12-01T11:00:00Z': ['within 1h', 'last 1', 'daily 2026-12-01'],
      '2026-11-30T10:00:00Z': ['daily 2026-11-30'],
    });
  });

  it('keep-within is strictly after newest - duration', () => {
    const times = ['2026-11-24T12:00:00Z', '2026-11-24T12:00:01Z', '2026-12-01T12:00:00Z'];
    expect(kept(times, { within: duration('7d') })).toEqual({
      '2026-11-24T12:00:01Z': ['within 7d'],
      '2026-12-01T12:00:00Z': ['within 7d'],
    });
  });

  it('measures keep-within from the newest snapshot that is not in the future', () => {
    const now = new Date('2026-12-02T00:00:00Z');
    const times = ['2026-11-20T00:00:00Z', '2026-11-30T00:00:00Z', '2026-12-01T00:00:00Z', '2027-06-01T00:00:00Z'];
    expect(kept(times, { within: duration('2d') }, now)).toEqual({
      '2026-11-30T00:00:00Z': ['within 2d'],
      '2026-12-01T00:00:00Z': ['within 2d'],
      '2027-06-01T00:00:00Z': ['within 2d'],
    });
    // Every snapshot in the future: there is no reference, so all are within (restic's zero time).
    expect(Object.keys(kept(['2030-01-01T00:00:00Z', '2030-02-01T00:00:00Z'], { within: duration('1d') }, now))).toHaveLength(2);
  });

  it('a future snapshot is the newest for last and period rules', () => {
    const now = new Date('2026-12-02T00:00:00Z');
    expect(kept(['2026-12-01T00:00:00Z', '2027-06-01T00:00:00Z'], { last: 1 }, now)).toEqual({ '2027-06-01T00:00:00Z': ['last 1'] });
  });

  it('ties within one second: the later listed (name -1, -2) counts as newer', () => {
    const list = [
      { name: '2026-12-02T014500Z', time: new Date('2026-12-02T01:45:00Z') },
      { name: '2026-12-02T014500Z-1', time: new Date('2026-12-02T01:45:00Z') },
      { name: '2026-12-02T014500Z-2', time: new Date('2026-12-02T01:45:00Z') },
    ];
    const decisions = applyRetention(list, { last: 1, daily: 1 }, NOW);
    expect(decisions.map((d) => [d.snapshot.name, d.reasons])).toEqual([
      ['2026-12-02T014500Z', []],
      ['2026-12-02T014500Z-1', []],
      ['2026-12-02T014500Z-2', ['last 1', 'daily 2026-12-02']],
    ]);
  });

  it('a single snapshot is kept by any rule', () => {
    for (const rules of [{ last: 1 }, { daily: 1 }, { weekly: 3 }, { within: duration('1h') }]) {
      expect(Object.keys(kept(['2026-12-01T00:00:00Z'], rules))).toEqual(['2026-12-01T00:00:00Z']);
    }
  });

  it('a rule of 0 is no rule; with no rule at all only the newest is kept', () => {
    const times = ['2026-11-01T00:00:00Z', '2026-12-01T00:00:00Z', '2026-12-02T00:00:00Z'];
    expect(kept(times, { last: 2, daily: 0, hourly: 0 })).toEqual(kept(times, { last: 2 }));
    expect(hasRule({ last: 0, daily: 0, within: duration('0d') })).toBe(false);
    expect(hasRule({ monthly: 1 })).toBe(true);
    expect(kept(times, { last: 0 })).toEqual({ '2026-12-02T00:00:00Z': ['newest'] });
  });

  it('returns one decision per snapshot in the given order', () => {
    const list = snaps('2026-12-03T00:00:00Z', '2026-12-01T00:00:00Z', '2026-12-02T00:00:00Z');
    expect(applyRetention(list, { last: 1 }, NOW).map((d) => d.snapshot)).toEqual(list);
    expect(applyRetention([], { last: 1 }, NOW)).toEqual([]);
  });
});

describe('conformance with restic', () => {
  interface Fixture {
    snapshots: string[];
    cases: { index: number; rules: Record<string, number | string>; keep: string[] }[];
  }
  // restic's own table (internal/data/snapshot_policy_test.go) and its golden results, for every case
  // without tags, unlimited counts or within-period rules (which backupd does not have).
  const fixture = JSON.parse(fs.readFileSync(new URL('./fixtures/restic-policy.json', import.meta.url), 'utf8')) as Fixture;

  it.each(fixture.cases.map((c) => [c.index, c] as const))('policy %i keeps what restic keeps', (_index, testCase) => {
    const { within, ...counts } = testCase.rules;
    const rules: RetentionRules = { ...counts, ...(typeof within === 'string' ? { within: duration(within) } : {}) };
    const list = fixture.snapshots.map((iso, i) => ({ name: String(i), time: new Date(iso) }));
    const keptTimes = applyRetention(list, rules, NOW)
      .filter((d) => d.reasons.length > 0)
      .map((d) => d.snapshot.time.getTime())
      .sort((a, b) => b - a);
    // restic keeps nothing for an empty policy; backupd never removes the newest (and refuses no rule).
    const expected = hasRule(rules) ? testCase.keep : [fixture.snapshots.reduce((a, b) => (new Date(a) > new Date(b) ? a : b))];
    expect(keptTimes).toEqual(expected.map((iso) => new Date(iso).getTime()));
  });
});
