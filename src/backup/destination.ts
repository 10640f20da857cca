/**
 * The dest seam: one interface for every kind of dest (a folder, a snapshot dest's current/, an object
 * store). The planner stays pure (`planBetweenTrees` over a walked source and the dest listed as a Tree);
 * each implementation lists and writes its dest in its own way. Which implementation a job gets is
 * decided at the edge (cli/destinations.ts), from the dest's form; the CLI and the watch daemon use only
 * this interface.
 */
import type { EntryFailure } from '../common/errors.js';
import type { ExecutionReport } from '../copy/execute.js';
import type { SnapshotOutcome } from '../snapshots/snapshot-run.js';
import type { Plan } from '../plan/types.js';
import type { PlannedBackup, PlanScope } from './backup.js';
import { EMPTY_REPORT, type BatchHooks, type StreamedBackup, type StreamExecution } from './stream.js';

/** What a whole-tree sync did. A dest that takes a step after the sync (a snapshot) says how it went. */
export interface DestSync extends StreamedBackup {
  readonly snapshot?: SnapshotOutcome;
}

export interface Destination {
  /** Where the plan's relative paths land, for messages: the dest folder, a snapshot dest's current/, s3://bucket/prefix. */
  readonly root: string;
  /**
   * A dry run: the whole tree planned as `sync` would plan it, each plan handed to `show`; nothing is
   * created, locked, cleaned or written.
   */
  preview(show: (plan: Plan) => void): Promise<StreamedBackup>;
  /** The whole tree's plan, or of some subtrees (watch), from the walked source and the listed dest. */
  plan(scope?: PlanScope): Promise<PlannedBackup>;
  execute(planned: PlannedBackup, execution: StreamExecution): Promise<ExecutionReport>;
  /**
   * The whole tree, planned and executed the way this dest does it best (a folder: a batch of folders at
   * a time, in bounded memory). The hooks see each plan before it runs and each report after.
   */
  sync(execution: StreamExecution, hooks?: BatchHooks): Promise<DestSync>;
  /** Releases what the dest holds (a snapshot dest's lock). */
  close(): void;
}

/** A whole-tree sync from one plan (dests that cannot be listed a folder at a time): the sync and the plan run. */
export async function syncWholeTree(
  dest: Pick<Destination, 'plan' | 'execute'>,
  execution: StreamExecution,
  hooks: BatchHooks = {},
): Promise<{ synced: StreamedBackup; planned: PlannedBackup }> {
  const whole = await dest.plan();
  const plan = hooks.planned?.(whole.plan) ?? whole.plan;
  const planned = plan === whole.plan ? whole : { ...whole, plan };
  // Planned while the source was vanishing: an empty source must never be mirrored (it would empty dest).
  const report = planned.sourceFound ? await dest.execute(planned, execution) : EMPTY_REPORT;
  if (planned.sourceFound) hooks.executed?.(planned.plan, report);
  return { synced: wholeTreeResult(planned, report), planned };
}

/** A whole-tree plan as a dry run sees it: shown, not executed. */
export function previewWholeTree(planned: PlannedBackup, show: (plan: Plan) => void): StreamedBackup {
  show(planned.plan);
  return wholeTreeResult(planned, EMPTY_REPORT);
}

function wholeTreeResult(planned: PlannedBackup, report: ExecutionReport): StreamedBackup {
  const { plan, scanFailures, deletesSkipped, sourceFound, ignore } = planned;
  return { plan, report, scanFailures, deletesSkipped, sourceFound, ignore };
}

/** All of a sync's failures: scan, plan and execution. */
export function syncFailures(synced: StreamedBackup): EntryFailure[] {
  return [...synced.scanFailures, ...synced.plan.failures, ...synced.report.failures];
}

/**
 * A dest opened on first use (the watch daemon makes its jobs synchronously; an s3:// dest loads the
 * SDK and checks the store then). An open that fails is tried again by the next call.
 */
export function lazyDestination(root: string, open: () => Promise<Destination>): Destination {
  let opened: Promise<Destination> | undefined;
  const get = (): Promise<Destination> => {
    opened ??= open();
    opened.catch(() => {
      opened = undefined;
    });
    return opened;
  };
  return {
    root,
    preview: async (show) => (await get()).preview(show),
    plan: async (scope) => (await get()).plan(scope),
    execute: async (planned, execution) => (await get()).execute(planned, execution),
    sync: async (execution, hooks) => (await get()).sync(execution, hooks),
    close: () => void opened?.then((dest) => dest.close(), () => undefined),
  };
}
