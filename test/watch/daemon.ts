/** A `backup watch` child process whose JSON log lines the test can wait on. */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { afterEach } from 'vitest';
import { collect, startCli, type CliResult, type RunOptions } from '../helpers/cli.js';

export interface LogLine {
  readonly timestamp: string;
  readonly level: string;
  readonly event: string;
  readonly path?: string;
  readonly bytes?: number;
  readonly durationMs?: number;
  readonly [field: string]: unknown;
}

/** Polls `check` every 10 ms until it returns something other than undefined/false, or fails at the deadline. */
export async function until<T>(check: () => T | undefined | false, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The file's content, or undefined while it is not there. */
export function readOrUndefined(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

const running = new Set<ChildProcess>();

// A test that failed half-way must not leave its daemon running.
afterEach(() => {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
});

export class WatchDaemon {
  readonly child: ChildProcess;
  private readonly exited: Promise<CliResult>;
  private stdout = '';

  constructor(args: readonly string[], options: RunOptions = {}) {
    this.child = startCli(['watch', '--log-format', 'json', ...args], options);
    this.child.stdout?.on('data', (chunk: unknown) => (this.stdout += String(chunk)));
    this.exited = collect(this.child, options.timeoutMs ?? 120_000);
    running.add(this.child);
    void this.exited.finally(() => running.delete(this.child));
  }

  /** Starts the daemon and waits for its initial sync to finish (for every job); at load 20 the start alone took over 20 s. */
  static async started(args: readonly string[], jobs = 1, options: RunOptions = {}): Promise<WatchDaemon> {
    const daemon = new WatchDaemon(args, options);
    await until(() => daemon.events('sync-finished').length >= jobs, 'the initial sync', 60_000);
    return daemon;
  }

  get lines(): LogLine[] {
    return this.stdout
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as LogLine);
  }

  events(event: string): LogLine[] {
    return this.lines.filter((line) => line.event === event);
  }

  /** Resolves with the exit status once the daemon exits by itself. */
  get exit(): Promise<CliResult> {
    return this.exited;
  }

  /** SIGTERM, then the exit status and the whole output. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<CliResult> {
    this.child.kill(signal);
    return this.exited;
  }
}
