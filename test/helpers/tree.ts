/** Temp folders, tree builders and tree snapshots for tests that touch the real filesystem. */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect } from 'vitest';

const made: string[] = [];

/** A fresh folder under the OS temp dir, removed after the current test. */
export function tempDir(prefix = 'backupd-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** Removing the tens of thousands of files of some tests took over a minute on a loaded machine. */
const CLEANUP_TIMEOUT_MS = 300_000;

afterEach(() => {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}, CLEANUP_TIMEOUT_MS);

export type TreeSpec = Record<string, string | Buffer | { content: string | Buffer; mode?: number; mtime?: Date } | { symlink: string } | { dir: true; mode?: number }>;

/** Writes files, folders and symlinks given by relative path. Parent folders are created as needed. */
export function writeTree(root: string, spec: TreeSpec): void {
  for (const [rel, value] of Object.entries(spec)) {
    const target = path.join(root, rel);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    if (typeof value === 'string' || Buffer.isBuffer(value)) {
      fs.writeFileSync(target, value);
    } else if ('symlink' in value) {
      fs.symlinkSync(value.symlink, target);
    } else if ('dir' in value) {
      fs.mkdirSync(target, { recursive: true });
      if (value.mode !== undefined) fs.chmodSync(target, value.mode);
    } else {
      fs.writeFileSync(target, value.content);
      if (value.mode !== undefined) fs.chmodSync(target, value.mode);
      if (value.mtime !== undefined) fs.utimesSync(target, value.mtime, value.mtime);
    }
  }
}

/**
 * An mtime that equals another within a millisecond, the precision backupd promises. Node writes times as
 * double seconds (about 0.25 µs of resolution today), so a copy's mtime can differ from its source's by a
 * fraction of a microsecond: any rounding to whole milliseconds flips now and then at a boundary, in
 * source and dest alike, and made tree comparisons flaky.
 */
export class Millis {
  constructor(readonly ms: number) {}
}

expect.addEqualityTesters([
  (a: unknown, b: unknown) => (a instanceof Millis && b instanceof Millis ? Math.abs(a.ms - b.ms) < 1 : undefined),
]);

export interface SnapshotEntry {
  readonly type: 'file' | 'dir' | 'symlink' | 'other';
  readonly mode: number;
  readonly mtimeMs: Millis;
  readonly sha256?: string;
  readonly target?: string;
}

/**
 * Every entry below `root` (root itself as '.'), for comparing two trees with toEqual. `rawNames`: keys
 * hold names byte for byte (latin1, one char per byte), so names that are not UTF-8 compare exactly.
 */
export function snapshot(root: string, options: { mtimes?: boolean; rawNames?: boolean } = {}): Record<string, SnapshotEntry> {
  const result: Record<string, SnapshotEntry> = {};
  const encoding = options.rawNames ? 'latin1' : 'utf8';
  const onDisk = (rel: string): string | Buffer => {
    const full = rel === '.' ? root : path.join(root, rel);
    return options.rawNames ? Buffer.from(full, 'latin1') : full;
  };
  const visit = (rel: string): void => {
    const full = onDisk(rel);
    const stat = fs.lstatSync(full);
    const base = { mode: stat.mode & 0o7777, mtimeMs: new Millis(options.mtimes === false ? 0 : stat.mtimeMs) };
    if (stat.isSymbolicLink()) {
      result[rel] = { type: 'symlink', target: fs.readlinkSync(full, { encoding }), mode: 0, mtimeMs: base.mtimeMs };
    } else if (stat.isFile()) {
      result[rel] = { type: 'file', ...base, sha256: sha256File(full) };
    } else if (stat.isDirectory()) {
      result[rel] = { type: 'dir', ...base };
      for (const name of fs.readdirSync(full, { encoding }).sort()) visit(rel === '.' ? name : path.join(rel, name));
    } else {
      result[rel] = { type: 'other', ...base };
    }
  };
  visit('.');
  return result;
}

export function sha256File(file: string | Buffer): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Paths below `root` that look like backupd temporaries. */
export function findTemps(root: string): string[] {
  return (fs.readdirSync(root, { recursive: true }) as string[]).filter((p) => path.basename(p).endsWith('.backupd-tmp'));
}
