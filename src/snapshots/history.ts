/**
 * Questions about a snapshot dest's past, answered from manifests (never by walking every tree): the
 * list of snapshots with what each costs, the versions of one file, and what changed between two
 * snapshots. A snapshot without a manifest (lost, or made by another tool) is walked instead.
 */
import fs from 'node:fs';
import { errnoCode, UsageError } from '../common/errors.js';
import { displayPath, fsPath, joinRaw, parentRel, baseName, type RawPath } from '../common/raw-path.js';
import { sameMtime } from '../plan/compare.js';
import { walkTree } from '../plan/walk.js';
import { findSnapshot, listSnapshots, snapshotDest, type SnapshotRef } from './layout.js';
import { forEachInodeBlock, InodeCursor, inodesFile, inodeTable, smallInodeTable } from './inode-table.js';
import { manifestEntries, readManifest, readStats, statsOf, type Manifest, type SnapshotStats } from './manifest.js';
import { parseVersionName } from './versions.js';

export interface SnapshotInfo {
  readonly name: string;
  /** ISO 8601 UTC. */
  readonly time: string;
  readonly files: number;
  readonly bytes: number;
  /** Bytes of file contents no other snapshot holds: what removing this snapshot would free. */
  readonly uniqueBytes: number;
  readonly failed: boolean;
}

/** A snapshot by name (or `latest`), or a UsageError naming the ones there are. */
export function requireSnapshot(root: RawPath, name: string): SnapshotRef {
  const ref = findSnapshot(root, name);
  if (ref !== undefined) return ref;
  const names = listSnapshots(root).map((s) => s.name);
  const known = names.length === 0 ? 'it has none' : `it has ${names.at(0)}${names.length > 1 ? ` … ${names.at(-1)}` : ''}`;
  throw new UsageError(`no snapshot ${name} in ${displayPath(root)}; ${known}`, 'ENOSNAPSHOT');
}

/**
 * A snapshot's inode table to compare: its `.inodes` file (`identity`: the file's, shared by the snapshots
 * of an unchanged tree), or pairs made from its tree when it has none.
 */
type InodeSource = { readonly file: RawPath; readonly identity: string } | { readonly pairs: Float64Array; readonly identity?: string };

/**
 * Every complete snapshot, oldest first, with its size and the bytes only it holds. The tables are read
 * a block at a time, two at once (a snapshot and its successor), so listing many snapshots of a tree of
 * millions of files needs no more memory than listing two.
 */
export function snapshotInfos(root: RawPath): SnapshotInfo[] {
  const refs = listSnapshots(root);
  const known = refs.map((ref) => {
    const saved = readStats(root, ref.name);
    const file = inodesFile(root, ref.name);
    const identity = fileIdentity(file);
    if (saved !== undefined && identity !== undefined) return { stats: saved, table: { file, identity } };
    const manifest = manifestOf(root, ref);
    return { stats: manifest as SnapshotStats, table: { pairs: inodeTable(manifest.entries) } };
  });
  const unique = uniqueBytes(known.map((k) => k.table));
  return refs.map((ref, i) => {
    const { stats: s } = known[i] as (typeof known)[number];
    return { name: ref.name, time: ref.time.toISOString(), files: s.files, bytes: s.bytes, uniqueBytes: unique[i] as number, failed: s.failed };
  });
}

/**
 * Per table, the bytes of inodes that neither neighbour has. Comparing neighbours is enough: an inode
 * enters the history in one snapshot and is then linked by each following one until its file changes,
 * and a moved file is linked from the newest snapshot only, so every inode spans consecutive snapshots
 * (removing snapshots keeps that true of the rest). One pass per pair of neighbours, oldest first: a
 * table read with its successor alongside learns which of its inodes the successor holds, and marks for
 * the successor (one bit per inode) which of the successor's it holds itself; so each table is read
 * twice, and a table shared with a neighbour (an unchanged tree: one linked file) not at all.
 */
function uniqueBytes(tables: readonly InodeSource[]): number[] {
  const unique: number[] = [];
  let heldByPrevious: Bits | undefined;
  // A table of one block, read as the successor of the one before, is kept for its own pass.
  let carried: InodeSource | undefined;
  tables.forEach((table, i) => {
    const own = carried ?? table;
    const following = tables[i + 1];
    if (following !== undefined && sameTable(own, following)) {
      unique.push(0);
      heldByPrevious = Bits.all();
      carried = own;
      return;
    }
    const next = following === undefined ? undefined : inMemoryIfSmall(following);
    carried = next !== undefined && 'pairs' in next ? next : undefined;
    // A table shared with the one before needs no shortcut: that one's pass marked every inode held.
    const cursor = next === undefined ? undefined : cursorOf(next);
    const heldByOwn = new Bits();
    let total = 0;
    let k = 0;
    try {
      forEachBlock(own, (pairs) => {
        for (let p = 0; p < pairs.length; p += 2, k++) {
          const inNext = cursor?.holds(pairs[p] as number) === true;
          if (inNext) heldByOwn.set((cursor as InodeCursor).index);
          if (!inNext && heldByPrevious?.has(k) !== true) total += pairs[p + 1] as number;
        }
      });
    } finally {
      cursor?.close();
    }
    unique.push(total);
    heldByPrevious = heldByOwn;
  });
  return unique;
}

/** A table file of one block as its pairs in memory (with its identity); any other source as it is. */
function inMemoryIfSmall(table: InodeSource): InodeSource {
  if ('pairs' in table) return table;
  const pairs = smallInodeTable(table.file);
  return pairs === undefined ? table : { pairs, identity: table.identity };
}

/** A growing set of small whole numbers, a bit each; `all()` holds every number. */
class Bits {
  private bytes = new Uint8Array(1024);

  constructor(private readonly full = false) {}

  static all(): Bits {
    return new Bits(true);
  }

  set(n: number): void {
    const byte = n >>> 3;
    if (byte >= this.bytes.length) {
      const grown = new Uint8Array(Math.max(2 * this.bytes.length, byte + 1));
      grown.set(this.bytes);
      this.bytes = grown;
    }
    this.bytes[byte] = (this.bytes[byte] as number) | (1 << (n & 7));
  }

  has(n: number): boolean {
    return this.full || (((this.bytes[n >>> 3] ?? 0) >> (n & 7)) & 1) === 1;
  }
}

function sameTable(a: InodeSource, b: InodeSource | undefined): boolean {
  return b !== undefined && a.identity !== undefined && a.identity === b.identity;
}

function cursorOf(table: InodeSource): InodeCursor | undefined {
  return 'pairs' in table ? InodeCursor.of(table.pairs) : InodeCursor.open(table.file);
}

function forEachBlock(table: InodeSource, visit: (pairs: Float64Array) => void): void {
  if ('pairs' in table) visit(table.pairs);
  else forEachInodeBlock(table.file, visit);
}

/** The device and inode of `file`, or undefined when it does not exist. */
export function fileIdentity(file: RawPath): string | undefined {
  try {
    const { dev, ino } = fs.statSync(fsPath(file));
    return `${dev}:${ino}`;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * The manifest of a snapshot, or one made by walking it when it has none or it cannot be read (damaged:
 * the walk gives the same answer, only slower).
 */
function manifestOf(root: RawPath, ref: SnapshotRef): Manifest {
  let saved: Manifest | undefined;
  try {
    saved = readManifest(root, ref.name);
  } catch {
    // Damaged: walked below.
  }
  return saved ?? walkedManifest(ref);
}

/** A manifest made by walking the snapshot's folder (no source identities: nothing to compare them with). */
export function walkedManifest(ref: SnapshotRef): Manifest {
  const tree = walkTree(ref.path);
  const empty = { root: '', entries: new Map(), temps: [], failures: [] };
  const entries = manifestEntries(tree, empty);
  return { ...statsOf(ref.name, ref.time, entries, false), entries };
}

export interface FileVersion {
  /** When this version was seen: the snapshot's time, or when the daemon replaced it (versions/). */
  readonly time: string;
  readonly size: number;
  readonly mtime: string;
  /** Where it can be read (absolute). */
  readonly path: string;
  /** The snapshot holding it, or undefined for a version kept by the daemon in versions/. */
  readonly snapshot?: string;
}

/**
 * Every distinct version of one file, oldest first: one lstat per snapshot (a version is an inode, and
 * a snapshot that did not change the file shares the previous one's), plus the daemon's versions/.
 */
export function fileVersions(root: RawPath, rel: RawPath): FileVersion[] {
  const found: SeenVersion[] = [];
  for (const ref of listSnapshots(root)) {
    const file = joinRaw(ref.path, rel);
    const stat = lstatFile(file);
    if (stat !== undefined) found.push(seen(stat, ref.time, file, ref.name));
  }
  found.push(...keptVersions(root, rel));
  found.sort((x, y) => x.version.time.localeCompare(y.version.time));
  // One inode is one version, wherever it is linked (snapshots that did not change it, versions/); the
  // earliest sighting names it. A copy with the same size and mtime as the one before is the same too.
  const inodes = new Set<number>();
  const distinct: FileVersion[] = [];
  let last: SeenVersion | undefined;
  for (const v of found) {
    const same = inodes.has(v.ino) || (last !== undefined && last.version.size === v.version.size && sameMtime(last.mtimeMs, v.mtimeMs));
    inodes.add(v.ino);
    if (same) continue;
    distinct.push(v.version);
    last = v;
  }
  return distinct;
}

interface SeenVersion {
  readonly version: FileVersion;
  readonly ino: number;
  readonly mtimeMs: number;
}

function seen(stat: fs.Stats, time: Date, file: RawPath, snapshot?: string): SeenVersion {
  const version = { time: time.toISOString(), size: stat.size, mtime: stat.mtime.toISOString(), path: displayPath(file), ...(snapshot === undefined ? {} : { snapshot }) };
  return { version, ino: stat.ino, mtimeMs: stat.mtimeMs };
}

/** `versions/<rel>~<time>` files of one path. */
function keptVersions(root: RawPath, rel: RawPath): SeenVersion[] {
  const folder = joinRaw(snapshotDest(root).versions, parentRel(rel));
  let names: string[];
  try {
    names = fs.readdirSync(fsPath(folder), { encoding: 'latin1' });
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return [];
    throw err;
  }
  const kept: SeenVersion[] = [];
  for (const name of names) {
    const parsed = parseVersionName(name);
    if (parsed === undefined || parsed.base !== baseName(rel)) continue;
    const file = joinRaw(folder, name);
    const stat = lstatFile(file);
    if (stat !== undefined) kept.push(seen(stat, parsed.time, file));
  }
  return kept;
}

function lstatFile(file: RawPath): fs.Stats | undefined {
  try {
    const stat = fs.lstatSync(fsPath(file));
    return stat.isFile() ? stat : undefined;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return undefined;
    throw err;
  }
}

