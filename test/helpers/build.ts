import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A copy of the built package that every user can read (see `publishForAllUsers`). */
    readonly publicPackage: string;
  }
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Builds dist/ so that worker threads (which cannot load TypeScript) and the CLI run the code under test,
 * and publishes a copy for the tests that run the CLI as another user.
 */
export default function setup(project: TestProject): () => void {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  const copy = publishForAllUsers();
  project.provide('publicPackage', copy);
  return () => fs.rmSync(copy, { recursive: true, force: true });
}

/**
 * The permission tests run the CLI as uid 65534, which cannot reach a checkout inside a folder closed to
 * others (a home folder of mode 0700, `mktemp -d`). They run this copy instead: the package as npm would
 * install it (package.json, config/, dist/, the runtime dependencies) in a temp folder open to all.
 */
function publishForAllUsers(): string {
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'backupd-package-'));
  const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  const runtimeDeps = Object.entries(lock.packages).filter(([dir, info]) => dir !== '' && info.dev !== true).map(([dir]) => dir);
  for (const entry of ['package.json', 'config', 'dist', ...runtimeDeps]) {
    // Optional dependencies for other platforms are in the lock file but not installed.
    if (fs.existsSync(path.join(ROOT, entry))) fs.cpSync(path.join(ROOT, entry), path.join(copy, entry), { recursive: true });
  }
  openToAll(copy);
  return copy;
}

/** Folders 0755, files readable by all (a checkout made with umask 077 has neither). */
function openToAll(dir: string): void {
  fs.chmodSync(dir, 0o755);
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) openToAll(full);
    else if (entry.isFile()) fs.chmodSync(full, fs.statSync(full).mode | 0o444);
  }
}
