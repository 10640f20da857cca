/**
 * Turns one executed plan into watch events: a line per copy, delete, failure and warning. Copies and
 * deletes of a re-scan are marked as such: the run logs one summary line for them.
 */
import type { PlannedBackup } from '../backup/backup.js';
import type { EntryFailure } from '../common/errors.js';
import { displayPath, joinRaw } from '../common/raw-path.js';
import type { ExecutionReport } from '../copy/execute.js';
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
  const { job, plan } = planned;
  const mark = rescan ? { rescan: true as const } : {};
  for (const result of report.results) {
    if (result.status === 'copied') {
      log({ type: 'copied', path: displayPath(joinRaw(job.source, result.rel)), bytes: result.bytes, durationMs, ...mark });
    }
  }
  // A shutdown leaves files not started; that is not a failure of theirs (the next start catches up).
  const failures = [...planned.scanFailures, ...plan.failures, ...report.failures].filter((f) => f.code !== 'ESTOPPED');
  const failedPaths = new Set(failures.map((f) => f.path));
  if (!report.deletesSkipped) {
    for (const action of plan.actions) {
      if (action.type !== 'remove' || action.reason !== 'deleted') continue;
      const path = displayPath(joinRaw(job.dest, action.rel));
      if (!failedPaths.has(path)) log({ type: 'deleted', path, ...mark });
    }
  }
  for (const warning of [...plan.warnings, ...report.warnings]) log({ type: 'warning', ...warning });
  return { copied: report.filesCopied, bytes: report.bytesCopied, failures };
}
