import { describe, expect, it } from 'vitest';
import { EventStream } from '../../src/control/event-stream.js';
import { HistoryLog } from '../../src/control/history.js';
import { tempDir } from '../helpers/tree.js';

function run(job: string, at: string, failed = 0) {
  const failures = Array.from({ length: failed }, (_, i) => ({ path: `${job}/f${i}`, code: 'EACCES', message: 'permission denied' }));
  return { type: 'run' as const, job, at, durationMs: 1000, full: false, filesCopied: 1, bytesCopied: 10, failed: failures };
}

describe('HistoryLog', () => {
  it('rotates past its limit, keeping the newest lines in order', () => {
    const log = new HistoryLog(tempDir(), 2000);
    for (let i = 0; i < 100; i++) log.append(run('/src', new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString()));
    const all = log.read();
    expect(all.length).toBeGreaterThan(10);
    expect(all.length).toBeLessThan(100);
    expect(all.at(-1)).toMatchObject({ at: '2026-01-01T00:01:39.000Z' });
    expect(all.map((e) => e.at)).toEqual([...all.map((e) => e.at)].sort());
    expect(log.read(3)).toEqual(all.slice(-3));
  });

  it('remembers each job\'s last run and the end of its last success', () => {
    const log = new HistoryLog(tempDir());
    log.append(run('/a', '2026-01-01T00:00:00.000Z'));
    log.append(run('/b', '2026-01-01T00:00:05.000Z'));
    log.append(run('/a', '2026-01-01T00:00:10.000Z', 2));
    const memories = log.memories();
    expect(memories.get('/a')?.lastRun?.failed).toHaveLength(2);
    expect(memories.get('/a')?.lastSuccess).toBe('2026-01-01T00:00:01.000Z');
    expect(memories.get('/b')?.lastSuccess).toBe('2026-01-01T00:00:06.000Z');
    expect(log.read(10, '/b')).toHaveLength(1);
  });
});

describe('EventStream', () => {
  it('replays what came after a Last-Event-ID of this boot, and everything for an unknown one', () => {
    const stream = new EventStream();
    for (let i = 0; i < 5; i++) stream.publish('copied', { n: i });
    const all = stream.since('x-0');
    expect(all.map((e) => e.data.n)).toEqual([0, 1, 2, 3, 4]);
    expect(stream.since(all[2]?.id).map((e) => e.data.n)).toEqual([3, 4]);
    expect(stream.since(undefined)).toEqual([]);
  });
});
