/**
 * Global setup of the s3 project: ONE throwaway Ceph RGW (test/helpers/ceph-rgw.sh) for every S3 test
 * file, always stopped at the end. Without the Ceph binaries the tests are skipped with a line saying how
 * to install them, except under CI=1, where a missing Ceph is a failure.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

export interface RgwEndpoint {
  readonly endpoint: string;
  readonly accessKey: string;
  readonly secretKey: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** The gateway, or null when Ceph is not installed (tests skip). */
    readonly rgw: RgwEndpoint | null;
  }
}

const SCRIPT = fileURLToPath(new URL('./ceph-rgw.sh', import.meta.url));
const CEPH_COMMANDS = ['ceph-mon', 'ceph-osd', 'radosgw', 'ceph'];
export const INSTALL_HINT = 'S3 tests skipped: Ceph is not installed (apt-get install --no-install-recommends ceph-mon ceph-osd radosgw ceph-common)';

function installed(command: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => fs.existsSync(path.join(dir, command))) || fs.existsSync(path.join('/usr/sbin', command));
}

export default function setup(project: TestProject): () => Promise<void> {
  if (!CEPH_COMMANDS.every(installed)) {
    if (process.env.CI === '1') throw new Error(`CI=1 but Ceph is missing: ${INSTALL_HINT.slice(INSTALL_HINT.indexOf('('))}`);
    console.warn(INSTALL_HINT);
    project.provide('rgw', null);
    return async () => {};
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'backupd-rgw-'));
  // Asynchronous, so that Vitest's own event loop keeps running while the cluster stops: a synchronous
  // stop held it for seconds, and Vitest then took its test workers for stuck ("Timeout terminating").
  const stop = async (): Promise<void> => {
    await runScript(['stop', dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const out = execFileSync(SCRIPT, ['start', dir], { encoding: 'utf8', timeout: 120_000 });
    const value = (name: string): string => (new RegExp(`^${name}=(.*)$`, 'm').exec(out)?.[1] ?? '').trim();
    project.provide('rgw', { endpoint: value('ENDPOINT'), accessKey: value('ACCESS_KEY'), secretKey: value('SECRET_KEY') });
  } catch (err) {
    execFileSync(SCRIPT, ['stop', dir], { stdio: 'inherit' });
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return stop;
}

function runScript(args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(SCRIPT, args, { stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`ceph-rgw.sh ${args[0]} exited ${code ?? signal}`))));
  });
}
