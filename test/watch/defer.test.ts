import { describe, expect, it } from 'vitest';
import { buildPlan, type PlanOptions } from '../../src/plan/plan.js';
import { deferCopies } from '../../src/watch/defer.js';
import { dir, file, link, tree } from '../plan/trees.js';

const OPTIONS: PlanOptions = { compare: 'size-mtime', delete: false, keepOwner: false };

describe('deferCopies', () => {
  const source = tree('/src', [dir('new'), file('new/busy', { size: 10 }), file('new/quiet', { size: 7 }), link('new/link', 'quiet')]);
  const plan = buildPlan(source, tree('/dst', []), OPTIONS);

  it('takes the copies it picks out of the plan, and their bytes, and keeps every other action', () => {
    const { plan: deferred, deferred: rels } = deferCopies(plan, (copy) => copy.rel === 'new/busy');
    expect(rels).toEqual(['new/busy']);
    expect(deferred.bytesToCopy).toBe(plan.bytesToCopy - 10);
    expect(deferred.actions.filter((a) => a.type === 'copy').map((a) => a.rel)).toEqual(['new/quiet']);
    expect(deferred.actions.filter((a) => a.type !== 'copy')).toEqual(plan.actions.filter((a) => a.type !== 'copy'));
  });

  it('returns the same plan when nothing is deferred', () => {
    expect(deferCopies(plan, () => false)).toEqual({ plan, deferred: [] });
  });
});
