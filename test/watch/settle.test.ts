import { describe, expect, it } from 'vitest';
import { Settler } from '../../src/watch/settle.js';
import { until } from './daemon.js';

function recorder(settleMs: number): { settler: Settler; batches: { rels: string[]; at: number }[] } {
  const batches: { rels: string[]; at: number }[] = [];
  const settler = new Settler(settleMs, (rels) => batches.push({ rels, at: Date.now() }));
  return { settler, batches };
}

describe('Settler', () => {
  it('reports a burst of notices for one path once, after the path has been quiet', async () => {
    const { settler, batches } = recorder(50);
    for (let i = 0; i < 100; i++) settler.notice('a');
    await until(() => batches.length === 1, 'the batch');
    expect(batches[0]?.rels).toEqual(['a']);
    expect(settler.size).toBe(0);
  });

  it('reports every path that settled at the same time in one batch, in notice order', async () => {
    const { settler, batches } = recorder(50);
    for (const rel of ['x', 'y', 'z', 'y']) settler.notice(rel);
    await until(() => batches.length === 1, 'the batch');
    expect(batches[0]?.rels).toEqual(['x', 'z', 'y']);
  });

  it('holds back a path that keeps changing until it has been quiet for the settle time', async () => {
    const { settler, batches } = recorder(150);
    const started = Date.now();
    settler.notice('busy');
    settler.notice('calm');
    const ticker = setInterval(() => settler.notice('busy'), 30);
    await until(() => batches.length === 1, 'the calm path');
    const lastNotice = Date.now();
    clearInterval(ticker);
    expect(batches[0]?.rels).toEqual(['calm']);
    expect((batches[0]?.at ?? 0) - started).toBeGreaterThanOrEqual(145);
    await until(() => batches.length === 2, 'the busy path once it is quiet');
    expect(batches[1]?.rels).toEqual(['busy']);
    expect((batches[1]?.at ?? 0) - lastNotice).toBeGreaterThanOrEqual(100);
  });

  it('forgets the paths still settling when cleared', async () => {
    const { settler, batches } = recorder(20);
    settler.notice('gone');
    settler.clear();
    settler.notice('kept');
    await until(() => batches.length === 1, 'the batch');
    expect(batches[0]?.rels).toEqual(['kept']);
  });

  it('lists the paths still settling, oldest notice first, and none once they are reported', async () => {
    const { settler, batches } = recorder(50);
    for (const rel of ['p', 'q', 'p']) settler.notice(rel);
    expect(settler.settling()).toEqual(['q', 'p']);
    await until(() => batches.length === 1, 'the batch');
    expect(settler.settling()).toEqual([]);
  });
});
