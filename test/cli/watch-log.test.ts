import { describe, expect, it } from 'vitest';
import { createWatchLog, type LogLevel } from '../../src/cli/watch-log.js';
import type { WatchEvent } from '../../src/watch/events.js';

const EVENTS: WatchEvent[] = [
  { type: 'copied', path: '/src/initial.txt', bytes: 3, durationMs: 5, rescan: true },
  { type: 'sync-finished', path: '/src', files: 1, copied: 1, failed: 0, bytes: 3, durationMs: 9 },
  { type: 'rescan-finished', path: '/src/new', folders: 1, files: 4, copied: 0, failed: 0, bytes: 0, durationMs: 2 },
  { type: 'rescan-finished', path: '/src/new', folders: 3, files: 4, copied: 4, failed: 0, bytes: 40, durationMs: 2 },
  { type: 'copied', path: '/src/changed.txt', bytes: 7, durationMs: 5 },
  { type: 'warning', path: '/src/fifo', code: 'ESPECIAL', message: 'skipped' },
  { type: 'failed', path: '/src/locked', code: 'EACCES', message: 'permission denied', retryInMs: 1000 },
];

function logged(level: LogLevel): string[] {
  const lines: string[] = [];
  const log = createWatchLog('json', level, (line) => lines.push(line));
  for (const event of EVENTS) log(event);
  return lines.map((line) => {
    const { event, level: lineLevel, path } = JSON.parse(line) as { event: string; level: string; path: string };
    return `${lineLevel} ${event} ${path}`;
  });
}

describe('watch log levels', () => {
  it('logs summaries of re-scans, not their files, at the default level; a re-scan that found nothing only at debug', () => {
    expect(logged('info')).toEqual([
      'info sync-finished /src',
      'info rescan-finished /src/new',
      'info copied /src/changed.txt',
      'warn warning /src/fifo',
      'error failed /src/locked',
    ]);
  });

  it('logs every line at debug', () => {
    expect(logged('debug')).toHaveLength(EVENTS.length);
    expect(logged('debug')[0]).toBe('debug copied /src/initial.txt');
  });

  it('logs only failures at error', () => {
    expect(logged('error')).toEqual(['error failed /src/locked']);
  });

  it('writes a re-scan summary as one text line', () => {
    const lines: string[] = [];
    createWatchLog('text', 'info', (line) => lines.push(line))(EVENTS[3] as WatchEvent);
    expect(lines).toEqual(['rescanned /src/new and 2 more folder(s): 4 copied, 0 failed of 4 files, 40 B in 0.00 s\n']);
  });
});
