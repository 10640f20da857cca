/**
 * Turns one executed plan into watch events: a line per copy, delete, failure and warning. Copies and
 * deletes of a re-scan are marked as such: the run logs one summary line for them.
 */
import type { BackupJob, PlannedBackup } from '../backup/backup.js';
import type { EntryFailure } from '../common/errors.js';
import { displayPath, joinRaw } from '../common/raw-path.js';
import type { ExecutionReport } from '../copy/execute.js';
import type { Plan } from '../plan/types.js';
import type { WatchLog } from './events.js';

export interface Outcome {
  readonly copied: number;
  readonly bytes: number;
  readonly failures: readonly EntryFailure[];
}

/**
 * Logs what a run did. `durationMs` of a copy is the time of the whole run it was part of: the pool
 * copies files in batches and does not time them one by one.
 */
export function logExecution(planned: PlannedBackup, report: ExecutionReport, durationMs: number, log: WatchLog, rescan: boolean): Outcome {
  logBatch(planned.job, planned.plan, report, { durationMs, log, rescan });
  return outcomeOf(planned.scanFailures, planned.plan, report);
}

export interface BatchLog {
  /** Of the run, or of the batch of a streamed run, that the copies were part of. */
  readonly durationMs: number;
  readonly log: WatchLog;
  readonly rescan: boolean;
}

/** The lines of one executed plan (a run's, or one batch of a streamed full sync): copies, deletes, warnings. */
export function logBatch(job: Pick<BackupJob, 'source' | 'dest'>, plan: Plan, report: ExecutionReport, { durationMs, log, rescan }: BatchLog): void {
  const mark = rescan ? { rescan: true as const } : {};
  for (const result of report.results) {
    if (result.status === 'copied') {
      log({ type: 'copied', path: displayPath(joinRaw(job.source, result.rel)), bytes: result.bytes, durationMs, ...mark });
    }
  }
  const failedPaths = new Set([...plan.failures, ...report.failures].map((f) => f.path));
  if (!report.deletesSkipped) {
    for (const action of plan.actions) {
      if (action.type !== 'remove' || action.reason !== 'deleted') continue;
      const path = displayPath(joinRaw(job.dest, action.rel));
      if (!failedPaths.has(path)) log({ type: 'deleted', path, ...mark });
    }
  }
  for (const warning of [...plan.warnings, ...report.warnings]) log({ type: 'warning', ...warning });
}

/** What a run copied, and what failed: its scan, plan and execution failures. */
export function outcomeOf(scanFailures: readonly EntryFailure[], plan: Pick<Plan, 'failures'>, report: ExecutionReport): Outcome {
  // A shutdown leaves files not started; that is not a failure of theirs (the next start catches up).
  const failures = [...scanFailures, ...plan.failures, ...report.failures].filter((f) => f.code !== 'ESTOPPED');
  return { copied: report.filesCopied, bytes: report.bytesCopied, failures };
}
