/** Shared pieces of the fault-injection suite: mounts, tree checks and waiting on a process. */
import { execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, expect } from 'vitest';
import { sha256File } from '../helpers/tree.js';

const mounts: string[] = [];

/** A tmpfs of `size` (e.g. '8m') at `dir`, unmounted after the current test even when it failed. */
export function mountTmpfs(dir: string, size: string): void {
  fs.mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  mounts.push(dir);
}

/** Grows (or shrinks) a tmpfs mounted by mountTmpfs: "space comes back". */
export function resizeTmpfs(dir: string, size: string): void {
  execFileSync('mount', ['-o', `remount,size=${size}`, dir]);
}

afterEach(() => {
  // Lazy: a daemon killed a moment ago may still hold a descriptor on the mount.
  for (const dir of mounts.splice(0).reverse()) execFileSync('umount', ['-l', dir]);
});

/** Every regular file below `root`, as relative paths (Buffers are not needed: the suite's trees are ASCII here). */
export function listFiles(root: string): string[] {
  return (fs.readdirSync(root, { recursive: true }) as string[]).filter((rel) => fs.lstatSync(path.join(root, rel)).isFile());
}

export function isTemp(rel: string): boolean {
  return path.basename(rel).endsWith('.backupd-tmp');
}

export function hashTree(root: string): Map<string, string> {
  return new Map(listFiles(root).map((rel) => [rel, sha256File(path.join(root, rel))]));
}

/**
 * The power-loss promise: every file at a final name in dest is a complete copy of its source (one of
 * `versions` when the source changed meanwhile). Files dest held before that are not in the source are
 * left to the caller.
 */
export function expectFinalFilesComplete(dest: string, versions: ReadonlyMap<string, readonly string[]>): void {
  for (const rel of listFiles(dest)) {
    if (isTemp(rel)) continue;
    const known = versions.get(rel);
    if (known === undefined) continue;
    expect(known, `${rel} in dest is a complete copy`).toContain(sha256File(path.join(dest, rel)));
  }
}

/** Polls until `check` holds or fails at the deadline (no fixed sleeps). */
export async function until<T>(check: () => T | undefined | false, what: string, timeoutMs = 10_000, everyMs = 5): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** SIGKILL, then wait for the process to be gone (its descriptors closed). */
export async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await gone;
}

/** Files of `size` bytes of varied content (a counter pattern; cheap to make, different per file). */
export function patterned(size: number, seed: number): Buffer {
  const buffer = Buffer.allocUnsafe(size);
  for (let i = 0; i + 4 <= size; i += 4) buffer.writeUInt32LE((i * 2654435761 + seed) >>> 0, i);
  buffer.fill(seed & 0xff, size - (size % 4));
  return buffer;
}
