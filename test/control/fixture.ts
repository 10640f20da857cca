/** A daemon with its own runtime and state folders, and the client commands pointed at them. */
import fs from 'node:fs';
import path from 'node:path';
import { runCli, type CliResult, type RunOptions } from '../helpers/cli.js';
import { tempDir, writeTree } from '../helpers/tree.js';
import { until, WatchDaemon } from '../watch/daemon.js';
import type { StatusReport } from '../../src/control/types.js';

export interface ControlSetup {
  readonly root: string;
  readonly src: string;
  readonly dst: string;
  readonly socket: string;
  readonly state: string;
  readonly env: NodeJS.ProcessEnv;
}

export function controlSetup(tree: Record<string, string> = { 'a.txt': 'first' }): ControlSetup {
  const root = tempDir('backupd-control-');
  const src = path.join(root, 'src');
  writeTree(src, tree);
  const env = { XDG_RUNTIME_DIR: path.join(root, 'run'), XDG_STATE_HOME: path.join(root, 'state') };
  return {
    root,
    src,
    dst: path.join(root, 'dst'),
    socket: path.join(root, 'run', 'backupd', 'control.sock'),
    state: path.join(root, 'state', 'backupd'),
    env,
  };
}

export function startDaemon(setup: ControlSetup, args: readonly string[], options: RunOptions = {}, jobs = 1): Promise<WatchDaemon> {
  return WatchDaemon.started(['--settle', '100', ...args], jobs, { ...options, env: { ...setup.env, ...options.env } });
}

export function cli(setup: ControlSetup, args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  return runCli(args, { ...options, env: { ...setup.env, ...options.env } });
}

export async function status(setup: ControlSetup): Promise<{ code: number | null; report: StatusReport; stderr: string }> {
  const result = await cli(setup, ['status', '--json']);
  return { code: result.code, report: JSON.parse(result.stdout || 'null') as StatusReport, stderr: result.stderr };
}

/** Polls `backup status --json` until `check` holds. */
export async function statusUntil(setup: ControlSetup, check: (s: { code: number | null; report: StatusReport }) => boolean, what: string, timeoutMs = 20_000): Promise<{ code: number | null; report: StatusReport }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const current = await status(setup);
    // null: the daemon does not answer yet (exit 3).
    if (current.report !== null && check(current)) return current;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last status: ${JSON.stringify(current.report)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export function writeConfig(setup: ControlSetup, config: unknown): string {
  const file = path.join(setup.root, 'config.json');
  fs.writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config));
  return file;
}

export { until };
