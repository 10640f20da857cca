/**
 * The watch daemon's log: one line per event on stdout, human text or JSON lines. stdout, not stderr,
 * because the log is the daemon's output (journald, a pipe to a file); errors that end it go to stderr.
 */
import type { WatchEvent, WatchLog } from '../watch/events.js';
import { formatBytes } from '../progress/bar.js';

export type LogFormat = 'text' | 'json';
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Lines below `minLevel` are not written. */
export function createWatchLog(
  format: LogFormat,
  minLevel: LogLevel = 'info',
  write: (line: string) => void = (line) => process.stdout.write(line),
): WatchLog {
  const lowest = LOG_LEVELS.indexOf(minLevel);
  const line = format === 'json' ? jsonLine : textLine;
  return (event) => {
    const level = levelOf(event);
    if (LOG_LEVELS.indexOf(level) >= lowest) write(`${line(event, level)}\n`);
  };
}

/**
 * A re-scan (initial sync, new folder) logs one summary line, so its per-file lines are debug, and so is
 * a summary of a re-scan that found nothing to do (every new folder is checked again twice).
 */
function levelOf(event: WatchEvent): LogLevel {
  switch (event.type) {
    case 'failed':
      return 'error';
    case 'warning':
    case 'source-missing':
      return 'warn';
    case 'copied':
    case 'deleted':
      return event.rescan === true ? 'debug' : 'info';
    case 'rescan-finished':
      return event.copied === 0 && event.failed === 0 ? 'debug' : 'info';
    default:
      return 'info';
  }
}

/** {timestamp, level, event, path, bytes, durationMs, …}: the event's own fields, renamed where needed. */
function jsonLine(event: WatchEvent, level: LogLevel): string {
  const { type, ...fields } = event;
  return JSON.stringify({ timestamp: new Date().toISOString(), level, event: type, ...fields });
}

function textLine(event: WatchEvent): string {
  switch (event.type) {
    case 'watching':
      return `watching ${event.path} -> ${event.dest} (ready in ${event.durationMs} ms)`;
    case 'copied':
      return `copied ${event.path} (${formatBytes(event.bytes)}, ${event.durationMs} ms)`;
    case 'deleted':
      return `deleted ${event.path}`;
    case 'failed': {
      const retry = event.retryInMs === undefined ? '' : `; retrying in ${Math.round(event.retryInMs / 1000)} s`;
      return `failed ${event.path}: ${event.message} (${event.code})${retry}`;
    }
    case 'warning':
      return `warning ${event.path}: ${event.message} (${event.code})`;
    case 'sync-finished':
      return (
        `sync finished ${event.path}: ${event.copied} copied, ${event.failed} failed of ${event.files} files, ` +
        `${formatBytes(event.bytes)} in ${(event.durationMs / 1000).toFixed(2)} s`
      );
    case 'rescan-finished': {
      const more = event.folders > 1 ? ` and ${event.folders - 1} more folder(s)` : '';
      return (
        `rescanned ${event.path}${more}: ${event.copied} copied, ${event.failed} failed of ${event.files} files, ` +
        `${formatBytes(event.bytes)} in ${(event.durationMs / 1000).toFixed(2)} s`
      );
    }
    case 'snapshot':
      return `snapshot ${event.path}/snapshots/${event.name}: ${event.files} files, ${event.copied} new (${formatBytes(event.bytesNew)}), ${event.linked} unchanged`;
    case 'snapshot-skipped':
      return `snapshot skipped ${event.path}: nothing changed since ${event.latest ?? 'the last snapshot'}`;
    case 'source-missing':
      return `source missing ${event.path}: waiting for it to come back`;
    case 'source-back':
      return `source back ${event.path}: syncing`;
    case 'reloaded':
      return `reloaded config ${event.path}: ${event.jobs} job(s)`;
    case 'stopping':
      return `stopping (${event.signal}): finishing copies in flight`;
    case 'stopped':
      return 'stopped';
  }
}
