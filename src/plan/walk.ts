/**
 * Lists a tree with lstat: symlinks are recorded, never followed; FIFOs, sockets and devices are marked
 * and never opened. Unreadable folders become failures and the walk goes on.
 */
import fs from 'node:fs';
import { errorData, errnoCode, type EntryFailure } from '../common/errors.js';
import { isTempName } from '../common/atomic.js';
import { displayPath, fsPath, joinRaw, type RawPath } from '../common/raw-path.js';
import { IGNORE_FILE, type IgnoreRules } from './ignore.js';
import type { Entry, SpecialEntry, Tree } from './types.js';

export interface WalkOptions {
  /** Source trees: exclusion rules, extended with every .backupignore met on the way. */
  readonly ignore?: IgnoreRules;
  /** Dest trees: collect leftover temporaries instead of listing them as entries. */
  readonly collectTemps?: boolean;
}

/** Walks `root` (a raw path). A root that does not exist gives an empty tree. */
export function walkTree(root: RawPath, options: WalkOptions = {}): Tree {
  const entries = new Map<RawPath, Entry>();
  const temps: RawPath[] = [];
  const failures: EntryFailure[] = [];
  const rootEntry = inspect(root, '', failures);
  if (rootEntry?.kind !== 'dir') return { root, entries, temps, failures };
  entries.set('', rootEntry);

  const pending: RawPath[] = [''];
  while (pending.length > 0) {
    const folder = pending.pop() as RawPath;
    const names = listFolder(root, folder, failures);
    if (names === undefined) continue;
    if (options.ignore !== undefined && names.some((d) => d.name === IGNORE_FILE)) {
      readIgnoreFile(root, folder, options.ignore, failures);
    }
    const subfolders: RawPath[] = [];
    for (const dirent of names) {
      const rel = folder === '' ? dirent.name : `${folder}/${dirent.name}`;
      if (options.collectTemps && !dirent.isDirectory() && isTempName(dirent.name)) {
        temps.push(rel);
        continue;
      }
      if (options.ignore?.isExcluded(rel, dirent.isDirectory())) continue;
      const entry = inspect(root, rel, failures);
      if (entry === undefined) continue;
      entries.set(rel, entry);
      if (entry.kind === 'dir') subfolders.push(rel);
    }
    // Reverse so that popping visits folders in listing order: pre-order, parents before children.
    for (let i = subfolders.length - 1; i >= 0; i--) pending.push(subfolders[i] as RawPath);
  }
  return { root, entries, temps, failures };
}

function listFolder(root: RawPath, folder: RawPath, failures: EntryFailure[]): fs.Dirent[] | undefined {
  try {
    return fs.readdirSync(fsPath(joinRaw(root, folder)), { encoding: 'latin1', withFileTypes: true });
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') failures.push(failureAt(root, folder, err));
    return undefined;
  }
}

function readIgnoreFile(root: RawPath, folder: RawPath, rules: IgnoreRules, failures: EntryFailure[]): void {
  const rel = folder === '' ? IGNORE_FILE : `${folder}/${IGNORE_FILE}`;
  try {
    rules.addIgnoreFile(folder, fs.readFileSync(fsPath(joinRaw(root, rel)), 'latin1'));
  } catch (err) {
    failures.push(failureAt(root, rel, err));
  }
}

function inspect(root: RawPath, rel: RawPath, failures: EntryFailure[]): Entry | undefined {
  try {
    return toEntry(rel, fs.lstatSync(fsPath(joinRaw(root, rel))), root);
  } catch (err) {
    // Gone between the listing and the lstat: nothing to back up, nothing to report.
    if (errnoCode(err) !== 'ENOENT') failures.push(failureAt(root, rel, err));
    return undefined;
  }
}

function toEntry(rel: RawPath, stat: fs.Stats, root: RawPath): Entry {
  const meta = { mode: stat.mode & 0o7777, mtimeMs: stat.mtimeMs, atimeMs: stat.atimeMs, uid: stat.uid, gid: stat.gid };
  if (stat.isFile()) return { kind: 'file', rel, size: stat.size, ino: stat.ino, dev: stat.dev, nlink: stat.nlink, ...meta };
  if (stat.isDirectory()) return { kind: 'dir', rel, ...meta };
  if (stat.isSymbolicLink()) {
    const target = fs.readlinkSync(fsPath(joinRaw(root, rel)), { encoding: 'latin1' });
    return { kind: 'symlink', rel, target, ...meta };
  }
  return { kind: 'special', rel, type: specialType(stat) };
}

function specialType(stat: fs.Stats): SpecialEntry['type'] {
  if (stat.isFIFO()) return 'fifo';
  if (stat.isSocket()) return 'socket';
  if (stat.isCharacterDevice()) return 'character device';
  return 'block device';
}

function failureAt(root: RawPath, rel: RawPath, err: unknown): EntryFailure {
  return { path: displayPath(joinRaw(root, rel)), ...errorData(err) };
}
