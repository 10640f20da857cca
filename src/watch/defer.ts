/**
 * Copies a re-scan leaves to later. A re-scan (the initial sync, a new folder's, a retry's) finds files
 * no notice brought, among them files still being written: their own settled notice will copy them once
 * they are quiet, so copying them now would copy them twice, the first time half-written. Pure.
 */
import type { RawPath } from '../common/raw-path.js';
import type { ActionOf, Plan } from '../plan/types.js';

export type CopyAction = ActionOf<'copy'>;

export interface Deferred {
  readonly plan: Plan;
  /** Files whose copy was taken out of the plan. */
  readonly deferred: readonly RawPath[];
}

/** The plan without the copies `isUnsettled` picks. */
export function deferCopies(plan: Plan, isUnsettled: (copy: CopyAction) => boolean): Deferred {
  const deferred: RawPath[] = [];
  let bytesDeferred = 0;
  const actions = plan.actions.filter((action) => {
    if (action.type !== 'copy' || !isUnsettled(action)) return true;
    deferred.push(action.rel);
    bytesDeferred += action.source.size;
    return false;
  });
  if (deferred.length === 0) return { plan, deferred };
  return { plan: { ...plan, actions, bytesToCopy: plan.bytesToCopy - bytesDeferred }, deferred };
}
