/**
 * Everything the CLI prints. Human lines go to stderr (stdout stays clean for --json and for pipes);
 * --json prints exactly one JSON object on stdout. No carriage returns or terminal codes outside the bar.
 */
import type { EntryFailure, EntryWarning } from '../common/errors.js';
import { formatBytes } from '../progress/bar.js';
import type { BackupSummary } from '../progress/summary.js';

export interface OutputMode {
  readonly json: boolean;
  readonly quiet: boolean;
}

export function say(line: string): void {
  process.stderr.write(`backup: ${line}\n`);
}

export function reportFailure(failure: EntryFailure): void {
  say(`error: ${failure.path}: ${failure.message} (${failure.code})`);
}

export function reportWarning(warning: EntryWarning): void {
  say(`warning: ${warning.path}: ${warning.message} (${warning.code})`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

export function printBackupSummary(summary: BackupSummary, mode: OutputMode): void {
  for (const warning of summary.warnings) if (!mode.quiet) reportWarning(warning);
  for (const failure of summary.errors) reportFailure(failure);
  // --json: the command prints one object for all its jobs at the end.
  if (mode.json || mode.quiet) return;
  const seconds = summary.durationMs / 1000;
  const rate = seconds > 0 ? `, ${formatBytes(summary.bytesCopied / seconds)}/s` : '';
  say(
    `${summary.filesCopied} copied, ${summary.filesSkipped} unchanged, ${summary.filesFailed} failed ` +
      `of ${summary.filesTotal} files; ${formatBytes(summary.bytesCopied)} in ${seconds.toFixed(2)} s${rate}`,
  );
}
