/** Literal entries and trees for planner tests: just enough fields to describe a scan. */
import type { DirEntry, Entry, FileEntry, SpecialEntry, SymlinkEntry, Tree } from '../../src/plan/types.js';

const META = { mode: 0o644, mtimeMs: 1_700_000_000_000, atimeMs: 1_700_000_000_000, ctimeMs: 1_700_000_000_000, uid: 1000, gid: 1000 };

export function file(rel: string, fields: Partial<Omit<FileEntry, 'kind' | 'rel'>> = {}): FileEntry {
  return { kind: 'file', rel, size: 100, ino: 1, dev: 1, nlink: 1, ...META, ...fields };
}

export function dir(rel: string, fields: Partial<Omit<DirEntry, 'kind' | 'rel'>> = {}): DirEntry {
  return { kind: 'dir', rel, dev: 1, ...META, mode: 0o755, ...fields };
}

export function link(rel: string, target: string): SymlinkEntry {
  return { kind: 'symlink', rel, target, ...META, mode: 0o777 };
}

export function special(rel: string, type: SpecialEntry['type'] = 'fifo'): SpecialEntry {
  return { kind: 'special', rel, type };
}

/** A tree in pre-order; the root folder '' is added first unless given. */
export function tree(root: string, entries: readonly Entry[], temps: readonly string[] = []): Tree {
  const all = entries.some((e) => e.rel === '') ? entries : [dir(''), ...entries];
  return { root, entries: new Map(all.map((e) => [e.rel, e])), temps, failures: [] };
}
