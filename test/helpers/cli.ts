/** Runs the built CLI (dist/cli/main.js) as a child process, as a user would. */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';

export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** The same build, copied where every user can read it (the checkout may be in a folder closed to others). */
function publicCli(): string {
  return path.join(inject('publicPackage'), 'dist/cli/main.js');
}

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Run as this uid/gid through setpriv (tests run as root; permission cases need a plain user). */
  readonly asUser?: { uid: number; gid: number };
  readonly timeoutMs?: number;
}

let runtimeDir: string | undefined;

/**
 * A runtime and state folder of this test process's own: daemons started by test files running side by
 * side must not meet at the default control socket (the second would exit 2, "already running").
 */
function isolatedRuntime(): NodeJS.ProcessEnv {
  runtimeDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'backupd-runtime-'));
  return { XDG_RUNTIME_DIR: path.join(runtimeDir, 'run'), XDG_STATE_HOME: path.join(runtimeDir, 'state') };
}

export function startCli(args: readonly string[], options: RunOptions = {}): ChildProcess {
  const [command, argv] = options.asUser
    ? ['setpriv', [`--reuid=${options.asUser.uid}`, `--regid=${options.asUser.gid}`, '--clear-groups', process.execPath, publicCli(), ...args]]
    : [process.execPath, [CLI, ...args]];
  const spawnOptions: SpawnOptions = {
    cwd: options.cwd,
    env: {
      ...process.env,
      XDG_CONFIG_HOME: '/nonexistent-backupd-test-config',
      ...(options.asUser ? {} : isolatedRuntime()),
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  };
  return spawn(command as string, argv as string[], spawnOptions);
}

export function runCli(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  const child = startCli(args, options);
  return collect(child, options.timeoutMs ?? 60_000);
}

export function collect(child: ChildProcess, timeoutMs = 60_000): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`CLI did not finish within ${timeoutMs} ms; stderr so far: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
