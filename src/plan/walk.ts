/**
 * Lists a tree with lstat: symlinks are recorded, never followed; FIFOs, sockets and devices are marked
 * and never opened. Unreadable folders become failures and the walk goes on.
 */
import fs from 'node:fs';
import { errorData, errnoCode, type EntryFailure } from '../common/errors.js';
import { isTempName } from '../common/atomic.js';
import { baseName, displayPath, fsPath, isAtOrBelow, joinRaw, type RawPath } from '../common/raw-path.js';
import { IGNORE_FILE, type IgnoreRules } from './ignore.js';
import type { DirEntry, Entry, SpecialEntry, Tree } from './types.js';

export interface WalkOptions {
  /** Source trees: exclusion rules, extended with every .backupignore met on the way. */
  readonly ignore?: IgnoreRules;
  /** Dest trees: collect leftover temporaries instead of listing them as entries. */
  readonly collectTemps?: boolean;
  /**
   * Walk only these subtrees (rels below root), plus the folders above them, inspected but not listed:
   * re-planning what changed (watch) must not cost a walk of the whole tree. Nested rels are merged.
   */
  readonly only?: readonly RawPath[];
  /** -x: folders on another filesystem than the root's are listed (so they are created) but not entered. */
  readonly oneFileSystem?: boolean;
}

/** Walks `root` (a raw path). A root that does not exist gives an empty tree. */
export function walkTree(root: RawPath, options: WalkOptions = {}): Tree {
  const failures: EntryFailure[] = [];
  const rootEntry = inspect(root, '', failures);
  if (rootEntry?.kind === 'dir') {
    const walk: Walk = { root, rootDev: rootEntry.dev, options, entries: new Map(), temps: [], failures };
    walk.entries.set('', rootEntry);
    for (const top of options.only === undefined ? [''] : topmost(options.only)) walkSubtree(walk, top);
    return { root, entries: walk.entries, temps: walk.temps, failures };
  }
  return { root, entries: new Map(), temps: [], failures };
}

interface Walk {
  readonly root: RawPath;
  /** The root folder's filesystem (-x). */
  readonly rootDev: number;
  readonly options: WalkOptions;
  readonly entries: Map<RawPath, Entry>;
  readonly temps: RawPath[];
  readonly failures: EntryFailure[];
}

/** The rels without those inside another one of them ('' covers everything). */
function topmost(rels: readonly RawPath[]): RawPath[] {
  const kept = new Set<RawPath>();
  const isCovered = (rel: RawPath): boolean => {
    for (let slash = rel.indexOf('/'); slash !== -1; slash = rel.indexOf('/', slash + 1)) {
      if (kept.has(rel.slice(0, slash))) return true;
    }
    return kept.has('') || kept.has(rel);
  };
  // Shorter first, so that a folder is kept before anything inside it is looked at.
  for (const rel of [...rels].sort((a, b) => a.length - b.length)) if (!isCovered(rel)) kept.add(rel);
  return [...kept];
}

/**
 * Adds `top` and everything below it, after the folders above it (so the tree stays in pre-order). Stops
 * where a folder above is missing, excluded or not a folder: nothing below it can be in the tree.
 */
function walkSubtree(walk: Walk, top: RawPath): void {
  if (top !== '') {
    const parts = top.split('/');
    for (let depth = 1; depth <= parts.length; depth++) {
      const rel = parts.slice(0, depth).join('/');
      const known = walk.entries.get(rel);
      const entry = known ?? inspect(walk.root, rel, walk.failures);
      if (entry === undefined) return;
      const isLast = depth === parts.length;
      if (!isLast && entry.kind !== 'dir') return;
      if (known === undefined) {
        if (skipped(walk.options, walk.temps, rel, baseName(rel), entry.kind === 'dir')) return;
        walk.entries.set(rel, entry);
      }
    }
    const folder = walk.entries.get(top);
    if (folder?.kind !== 'dir' || !isEnteredFolder(walk.options, walk.rootDev, folder)) return;
  }
  listRecursively(walk, top);
}

/** True (and a temporary noted) when `rel` is not to be listed: a leftover temporary, or excluded. */
function skipped(options: WalkOptions, temps: RawPath[], rel: RawPath, name: RawPath, isDir: boolean): boolean {
  if (options.collectTemps && !isDir && isTempName(name)) {
    temps.push(rel);
    return true;
  }
  return options.ignore?.isExcluded(rel, isDir) ?? false;
}

function listRecursively(walk: Walk, start: RawPath): void {
  const pending: RawPath[] = [start];
  while (pending.length > 0) {
    const folder = pending.pop() as RawPath;
    const listed = listFolderEntries(walk.root, folder, walk.options, walk.failures);
    if (listed === undefined) continue;
    walk.temps.push(...listed.temps);
    const subfolders: RawPath[] = [];
    for (const entry of listed.entries) {
      walk.entries.set(entry.rel, entry);
      if (entry.kind === 'dir' && isEnteredFolder(walk.options, walk.rootDev, entry)) subfolders.push(entry.rel);
    }
    // Reverse so that popping visits folders in listing order: pre-order, parents before children.
    for (let i = subfolders.length - 1; i >= 0; i--) pending.push(subfolders[i] as RawPath);
  }
}

/**
 * A walk limited to some subtrees, a folder at a time (a restore of some paths): a folder inside one of
 * them is listed whole, a folder above them only for the names on the way down (inspected, not listed).
 */
export class WalkScope {
  private readonly tops: readonly RawPath[];

  constructor(only: readonly RawPath[]) {
    this.tops = topmost(only);
  }

  /** The rels of `folder`'s entries to inspect one by one, or undefined when the folder is listed whole. */
  entriesOf(folder: RawPath): RawPath[] | undefined {
    const prefix = folder === '' ? '' : `${folder}/`;
    const below = new Set<RawPath>();
    for (const top of this.tops) {
      if (isAtOrBelow(folder, top)) return undefined;
      if (top.startsWith(prefix)) below.add(prefix + (top.slice(prefix.length).split('/')[0] as RawPath));
    }
    return [...below];
  }
}

/** The entries at `rels` (those that exist), inspected one by one: a folder's contents as a scoped walk sees them. */
export function inspectEach(root: RawPath, rels: readonly RawPath[], failures: EntryFailure[]): FolderContents {
  const entries: Entry[] = [];
  for (const rel of rels) {
    const entry = inspect(root, rel, failures);
    if (entry !== undefined) entries.push(entry);
  }
  return { entries, temps: [] };
}

/** One folder's contents: its entries in listing order (temporaries and excluded names left out), and the temporaries. */
export interface FolderContents {
  readonly entries: Entry[];
  readonly temps: RawPath[];
}

/**
 * Lists and inspects the entries of one folder (reading its .backupignore into the rules first).
 * Undefined when the folder is gone or cannot be listed (a failure is recorded for the latter).
 */
export function listFolderEntries(root: RawPath, folder: RawPath, options: WalkOptions, failures: EntryFailure[]): FolderContents | undefined {
  const names = listFolder(root, folder, failures);
  if (names === undefined) return undefined;
  if (options.ignore !== undefined && names.some((d) => d.name === IGNORE_FILE)) {
    readIgnoreFile(root, folder, options.ignore, failures);
  }
  const contents: FolderContents = { entries: [], temps: [] };
  const inFolder = childPaths(joinRaw(root, folder));
  for (const dirent of names) {
    const rel = folder === '' ? dirent.name : `${folder}/${dirent.name}`;
    if (skipped(options, contents.temps, rel, dirent.name, dirent.isDirectory())) continue;
    const entry = inspectAt(inFolder(dirent.name), rel, root, failures);
    if (entry !== undefined) contents.entries.push(entry);
  }
  return contents;
}

/** With -x, a mount point is listed (so dest gets the empty folder, as rsync -x does) but not entered. */
export function isEnteredFolder(options: WalkOptions, rootDev: number, folder: DirEntry): boolean {
  return !options.oneFileSystem || folder.dev === rootDev;
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

/**
 * The fs path of each name in `folder`. Most paths are ASCII and go to fs as they are (see fsPath): when
 * the folder's is, only the short name needs the test, not the whole path again for every entry.
 */
function childPaths(folder: RawPath): (name: RawPath) => string | Buffer {
  const prefix = folder.endsWith('/') ? folder : `${folder}/`;
  if (typeof fsPath(prefix) !== 'string') return (name) => fsPath(prefix + name);
  return (name) => {
    const own = fsPath(name);
    return typeof own === 'string' ? prefix + own : fsPath(prefix + name);
  };
}

export function inspect(root: RawPath, rel: RawPath, failures: EntryFailure[]): Entry | undefined {
  return inspectAt(fsPath(joinRaw(root, rel)), rel, root, failures);
}

function inspectAt(path: string | Buffer, rel: RawPath, root: RawPath, failures: EntryFailure[]): Entry | undefined {
  try {
    return toEntry(rel, fs.lstatSync(path), path);
  } catch (err) {
    // Gone between the listing and the lstat: nothing to back up, nothing to report.
    if (errnoCode(err) !== 'ENOENT') failures.push(failureAt(root, rel, err));
    return undefined;
  }
}

/** Files are most entries: theirs is built as one literal, without an intermediate metadata object. */
function toEntry(rel: RawPath, stat: fs.Stats, path: string | Buffer): Entry {
  const { mode, mtimeMs, atimeMs, ctimeMs, uid, gid } = stat;
  if (stat.isFile()) {
    return { kind: 'file', rel, size: stat.size, ino: stat.ino, dev: stat.dev, nlink: stat.nlink, mode: mode & 0o7777, mtimeMs, atimeMs, ctimeMs, uid, gid };
  }
  const meta = { mode: mode & 0o7777, mtimeMs, atimeMs, ctimeMs, uid, gid };
  if (stat.isDirectory()) return { kind: 'dir', rel, dev: stat.dev, ...meta };
  if (stat.isSymbolicLink()) return { kind: 'symlink', rel, target: fs.readlinkSync(path, { encoding: 'latin1' }), ...meta };
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
