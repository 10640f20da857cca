import { describe, expect, it } from 'vitest';
import { freshTimeName, parseTimeName, timeName, timeNameSequence } from '../../src/common/time-name.js';

describe('time names', () => {
  it('is the UTC time to the second, with -1, -2 for later names within the same second', () => {
    const t = new Date('2026-12-02T01:45:00.900Z');
    expect(timeName(t)).toBe('2026-12-02T014500Z');
    expect(freshTimeName(t, new Set())).toBe('2026-12-02T014500Z');
    expect(freshTimeName(t, new Set(['2026-12-02T014500Z']))).toBe('2026-12-02T014500Z-1');
    expect(freshTimeName(t, new Set(['2026-12-02T014500Z', '2026-12-02T014500Z-1']))).toBe('2026-12-02T014500Z-2');
  });

  it('parses back to the time, and rejects what is not a time name', () => {
    expect(parseTimeName('2026-12-02T014500Z-3')?.toISOString()).toBe('2026-12-02T01:45:00.000Z');
    for (const name of ['latest', '.2026-12-02T014500Z.partial', '2026-13-02T014500Z', '2026-12-02T014500', 'x']) {
      expect(parseTimeName(name)).toBeUndefined();
    }
  });

  it('orders names of one second by their sequence number', () => {
    expect(['2026-12-02T014500Z-2', '2026-12-02T014500Z', '2026-12-02T014500Z-10'].map(timeNameSequence)).toEqual([2, 0, 10]);
  });
});
