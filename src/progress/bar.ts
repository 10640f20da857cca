/**
 * The terminal progress bar (cli-progress) and its no-op stand-in.
 *
 * cli-progress is loaded lazily: a run that has nothing to copy, or whose stderr is not a terminal, never
 * pays for it.
 */
import type { ProgressSink } from './events.js';

export interface ProgressBar extends ProgressSink {
  /** Extra text shown after the numbers (e.g. which sources are in use). */
  setDetail(text: string): void;
  /** More to do than the totals it started with (a streaming backup learns its totals batch by batch). */
  grow(bytes: number, files: number): void;
  stop(): void;
}

export interface BarOptions {
  readonly totalBytes: number;
  readonly totalFiles: number;
  /** What the counted items are called in the bar (default "files"; assembly counts blocks). */
  readonly countLabel?: string;
  /** A bar only where a human watches: a TTY and not --quiet / --json. */
  readonly enabled: boolean;
  readonly stream?: NodeJS.WriteStream;
}

const NO_BAR: ProgressBar = { advance() {}, setDetail() {}, grow() {}, stop() {} };

export async function createProgressBar(options: BarOptions): Promise<ProgressBar> {
  const stream = options.stream ?? process.stderr;
  if (!options.enabled || !stream.isTTY) return NO_BAR;
  const { default: cliProgress } = await import('cli-progress');
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format:
        '{bar} {percentage}% | {done}/{size} | {filesDone}/{totalFiles} {countLabel} | {rate}/s | ETA {eta_formatted} {detail}',
      barsize: 24,
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 50,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  let bytes = 0;
  let files = 0;
  let detail = '';
  let { totalBytes, totalFiles } = options;
  const payload = () => ({
    done: formatBytes(bytes),
    size: formatBytes(totalBytes),
    filesDone: files,
    totalFiles,
    countLabel: options.countLabel ?? 'files',
    rate: formatBytes(bytes / Math.max(0.001, (Date.now() - started) / 1000)),
    detail,
  });
  bar.start(Math.max(1, totalBytes), 0, payload());
  return {
    advance(deltaBytes, deltaFiles) {
      bytes += deltaBytes;
      files += deltaFiles;
      bar.update(bytes, payload());
    },
    setDetail(text) {
      detail = text;
      bar.update(bytes, payload());
    },
    grow(moreBytes, moreFiles) {
      totalBytes += moreBytes;
      totalFiles += moreFiles;
      bar.setTotal(Math.max(1, totalBytes));
      bar.update(bytes, payload());
    },
    stop() {
      bar.stop();
    },
  };
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(n: number): string {
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${UNITS[unit]}`;
}
