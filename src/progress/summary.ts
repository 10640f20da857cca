/** Folds a run's plan and results into the summary that ends every backup (and its --json form). */
import type { EntryFailure, EntryWarning } from '../common/errors.js';

export interface BackupSummary {
  readonly filesTotal: number;
  readonly filesCopied: number;
  readonly filesSkipped: number;
  readonly filesFailed: number;
  readonly bytesCopied: number;
  readonly durationMs: number;
  readonly errors: readonly EntryFailure[];
  readonly warnings: readonly EntryWarning[];
}

/** The summary's counts before folding: where each skip and failure came from. */
export interface SummaryInput extends BackupSummary {
  /** Skipped by the plan (current in dest). */
  readonly filesSkipped: number;
  /** Copies the executor found unnecessary (identical content, vanished). */
  readonly filesSkippedLate: number;
  /** Files linked from where dest held them already (a moved folder) instead of copied: they cost nothing. */
  readonly filesLinked?: number;
  /** Copies that failed or never started. */
  readonly filesFailed: number;
  /** Files the plan refused (a folder in the way without --delete). */
  readonly filesRefused: number;
}

export function summarize(input: SummaryInput): BackupSummary {
  return {
    filesTotal: input.filesTotal,
    filesCopied: input.filesCopied,
    filesSkipped: input.filesSkipped + input.filesSkippedLate + (input.filesLinked ?? 0),
    filesFailed: input.filesFailed + input.filesRefused,
    bytesCopied: input.bytesCopied,
    durationMs: Math.round(input.durationMs),
    errors: input.errors,
    warnings: input.warnings,
  };
}
