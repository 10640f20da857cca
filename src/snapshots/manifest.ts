/**
 * One manifest per snapshot in `.backupd/manifests/`, so that listing, diff and the history of a file
 * never walk snapshot trees, and so that a folder moved in the source can be linked from where the last
 * snapshot holds it.
 *
 *   <name>.json.gz   every entry, column by column (paths, kind, size, mtime, mode, owner, the snapshot's
 *                    inode, the source's device and inode, symlink targets): gzip'd JSON, one parse for
 *                    20,000 entries instead of 20,000. Names and times are in `.stats` only, so the
 *                    entries of an unchanged tree are byte for byte the previous snapshot's
 *   <name>.stats     files, bytes, failed: what `backup snapshots` prints without opening the above
 *   <name>.inodes    the snapshot's distinct file inodes, sorted, with their sizes: gzip'd Float64 columns
 *                    (inode deltas, then sizes: 2 KB for 20,000 files instead of 320 KB); bytes unique to
 *                    a snapshot come from comparing these with its neighbours'
 *
 * Paths are raw (one char per byte); JSON carries them exactly.
 *
 * A `.json.gz` or `.inodes` equal to the previous snapshot's is a hard link to it, not a copy: a snapshot
 * of an unchanged tree then costs its folders and one small `.stats` file (the entries of 20,000 files
 * are ~150 KB, 0.35 % of a tree of small files, against a 2 % budget of which the folders take 1.85 %).
 * Manifest files are never written in place, so a shared inode is safe; removing one name keeps the others.
 */
import fs from 'node:fs';
import zlib from 'node:zlib';
import { tempRelFor, writeFileAtomic } from '../common/atomic.js';
import { errnoCode } from '../common/errors.js';
import { baseName, fsPath, joinRaw, parentRel, type RawPath } from '../common/raw-path.js';
import { sameMtime } from '../plan/compare.js';
import type { FileEntry, ReusableFiles, Tree } from '../plan/types.js';
import { snapshotDest } from './layout.js';

export type ManifestKind = 'file' | 'dir' | 'symlink';

export interface ManifestEntry {
  readonly rel: RawPath;
  readonly kind: ManifestKind;
  readonly size: number;
  readonly mtimeMs: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** The inode in the snapshot (files: shared with the other snapshots that hold the same content). */
  readonly ino: number;
  /** The source file this was copied from, when known (0 otherwise): how a moved folder is recognised. */
  readonly srcDev: number;
  readonly srcIno: number;
  readonly target?: RawPath;
}

export interface SnapshotStats {
  readonly name: string;
  /** ISO 8601 UTC. */
  readonly time: string;
  readonly files: number;
  readonly bytes: number;
  /** Whether the run that took it had failures (the snapshot holds what current/ held then). */
  readonly failed: boolean;
}

export interface Manifest extends SnapshotStats {
  readonly entries: readonly ManifestEntry[];
}

const KIND_CODES: Record<ManifestKind, string> = { file: 'f', dir: 'd', symlink: 'l' };
const KINDS: Record<string, ManifestKind> = { f: 'file', d: 'dir', l: 'symlink' };

interface Columns {
  readonly rel: RawPath[];
  readonly kind: string;
  readonly size: number[];
  readonly mtimeMs: number[];
  readonly mode: number[];
  readonly uid: number[];
  readonly gid: number[];
  readonly ino: number[];
  readonly srcDev: number[];
  readonly srcIno: number[];
  /** Entry index → symlink target. */
  readonly target: Record<number, RawPath>;
}

const manifestFile = (root: RawPath, name: string) => joinRaw(snapshotDest(root).manifests, `${name}.json.gz`);
const statsFile = (root: RawPath, name: string) => joinRaw(snapshotDest(root).manifests, `${name}.stats`);
const inodesFile = (root: RawPath, name: string) => joinRaw(snapshotDest(root).manifests, `${name}.inodes`);

/** The suffixes of a snapshot's manifest files (for removing a snapshot's, or finding orphans). */
export const MANIFEST_SUFFIXES = ['.json.gz', '.stats', '.inodes'] as const;

/** The snapshot's entries from the walk of what it was made of, with the source's identity where known. */
export function manifestEntries(snapshotTree: Tree, source: Tree): ManifestEntry[] {
  const entries: ManifestEntry[] = [];
  for (const entry of snapshotTree.entries.values()) {
    if (entry.kind === 'special' || entry.rel === '') continue;
    const base = { rel: entry.rel, kind: entry.kind, mtimeMs: entry.mtimeMs, mode: entry.mode, uid: entry.uid, gid: entry.gid };
    if (entry.kind === 'file') {
      const from = source.entries.get(entry.rel);
      // Only a source file that this copy is current with identifies it; anything else would link a wrong
      // version into the next snapshot.
      const known = from?.kind === 'file' && from.size === entry.size && sameMtime(from.mtimeMs, entry.mtimeMs);
      entries.push({ ...base, size: entry.size, ino: entry.ino, srcDev: known ? from.dev : 0, srcIno: known ? from.ino : 0 });
    } else {
      entries.push({ ...base, size: 0, ino: 0, srcDev: 0, srcIno: 0, ...(entry.kind === 'symlink' ? { target: entry.target } : {}) });
    }
  }
  return entries;
}

export function statsOf(name: string, time: Date, entries: readonly ManifestEntry[], failed: boolean): SnapshotStats {
  let files = 0;
  let bytes = 0;
  for (const e of entries) {
    if (e.kind !== 'file') continue;
    files++;
    bytes += e.size;
  }
  return { name, time: time.toISOString(), files, bytes, failed };
}

/**
 * Writes the three files, each atomically but not flushed: the snapshot's commit (rename into place)
 * comes after one flush of the whole filesystem, which covers them. `previous`: the snapshot whose
 * files are linked where they are equal.
 */
export function writeManifest(root: RawPath, manifest: Manifest, previous?: string): void {
  fs.mkdirSync(fsPath(snapshotDest(root).manifests), { recursive: true, mode: 0o700 });
  const { entries, ...stats } = manifest;
  const columns: Columns = { rel: [], kind: '', size: [], mtimeMs: [], mode: [], uid: [], gid: [], ino: [], srcDev: [], srcIno: [], target: {} };
  let kinds = '';
  entries.forEach((e, i) => {
    columns.rel.push(e.rel);
    kinds += KIND_CODES[e.kind];
    columns.size.push(e.size);
    columns.mtimeMs.push(e.mtimeMs);
    columns.mode.push(e.mode);
    columns.uid.push(e.uid);
    columns.gid.push(e.gid);
    columns.ino.push(e.ino);
    columns.srcDev.push(e.srcDev);
    columns.srcIno.push(e.srcIno);
    if (e.target !== undefined) columns.target[i] = e.target;
  });
  const json = JSON.stringify({ format: 1, columns: { ...columns, kind: kinds } });
  const sameAs = (file: (root: RawPath, name: string) => RawPath) => (previous === undefined ? undefined : file(root, previous));
  writeOrLink(manifestFile(root, stats.name), zlib.gzipSync(json, { level: 1 }), sameAs(manifestFile));
  writeOrLink(inodesFile(root, stats.name), encodeInodeTable(inodeTable(entries)), sameAs(inodesFile));
  writeFileAtomic(statsFile(root, stats.name), JSON.stringify(stats), { durable: false });
}

/** `data` at `file`: a hard link to `equal` when that file holds exactly these bytes, else a new file. */
function writeOrLink(file: RawPath, data: Uint8Array, equal: RawPath | undefined): void {
  if (equal !== undefined && holdsExactly(equal, data)) {
    const temp = joinRaw(parentRel(file), baseName(tempRelFor(file)));
    try {
      fs.linkSync(fsPath(equal), fsPath(temp));
      fs.renameSync(fsPath(temp), fsPath(file));
      return;
    } catch {
      // Too many links, or it vanished: write a copy of its own.
      fs.rmSync(fsPath(temp), { force: true });
    }
  }
  writeFileAtomic(file, data, { durable: false });
}

function holdsExactly(file: RawPath, data: Uint8Array): boolean {
  try {
    return fs.readFileSync(fsPath(file)).equals(data);
  } catch {
    return false;
  }
}

/** (ino, size) of every distinct file inode, sorted by inode: the `.inodes` file's content. */
export function inodeTable(entries: readonly ManifestEntry[]): Float64Array {
  const sizes = new Map<number, number>();
  for (const e of entries) if (e.kind === 'file') sizes.set(e.ino, e.size);
  const inodes = [...sizes.keys()].sort((a, b) => a - b);
  const table = new Float64Array(inodes.length * 2);
  inodes.forEach((ino, i) => {
    table[2 * i] = ino;
    table[2 * i + 1] = sizes.get(ino) as number;
  });
  return table;
}

/** Pairs → [ino deltas…, sizes…], gzip'd: sorted inodes differ by little, and small numbers compress well. */
function encodeInodeTable(pairs: Float64Array): Uint8Array {
  const n = pairs.length / 2;
  const columns = new Float64Array(pairs.length);
  let previous = 0;
  for (let i = 0; i < n; i++) {
    const ino = pairs[2 * i] as number;
    columns[i] = ino - previous;
    columns[n + i] = pairs[2 * i + 1] as number;
    previous = ino;
  }
  return zlib.gzipSync(columns, { level: 1 });
}

function decodeInodeTable(data: Buffer): Float64Array {
  // Copied into a buffer of its own: a small result may sit unaligned in Node's shared pool.
  const columns = new Float64Array(new Uint8Array(zlib.gunzipSync(data)).buffer);
  const n = columns.length / 2;
  const pairs = new Float64Array(columns.length);
  let ino = 0;
  for (let i = 0; i < n; i++) {
    ino += columns[i] as number;
    pairs[2 * i] = ino;
    pairs[2 * i + 1] = columns[n + i] as number;
  }
  return pairs;
}

/** A snapshot's manifest, or undefined when it has none (taken by another tool, or lost). */
export function readManifest(root: RawPath, name: string): Manifest | undefined {
  let data: Buffer;
  try {
    data = fs.readFileSync(fsPath(manifestFile(root, name)));
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  const stats = readStats(root, name);
  if (stats === undefined) return undefined;
  const c = (JSON.parse(zlib.gunzipSync(data).toString('utf8')) as { columns: Columns }).columns;
  const entries: ManifestEntry[] = c.rel.map((rel, i) => ({
    rel,
    kind: KINDS[c.kind[i] as string] as ManifestKind,
    size: c.size[i] as number,
    mtimeMs: c.mtimeMs[i] as number,
    mode: c.mode[i] as number,
    uid: c.uid[i] as number,
    gid: c.gid[i] as number,
    ino: c.ino[i] as number,
    srcDev: c.srcDev[i] as number,
    srcIno: c.srcIno[i] as number,
    ...(c.target[i] !== undefined ? { target: c.target[i] } : {}),
  }));
  return { name: stats.name, time: stats.time, files: stats.files, bytes: stats.bytes, failed: stats.failed, entries };
}

export function readStats(root: RawPath, name: string): SnapshotStats | undefined {
  try {
    return JSON.parse(fs.readFileSync(fsPath(statsFile(root, name)), 'utf8')) as SnapshotStats;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * The sorted (ino, size) pairs of a snapshot, or undefined without a manifest. `decoded`: tables already
 * read, by the file's identity: snapshots of an unchanged tree share one `.inodes` file (linked), which
 * is then decoded once, and the same array comes back for each.
 */
export function readInodes(root: RawPath, name: string, decoded?: Map<string, Float64Array>): Float64Array | undefined {
  let fd: number;
  try {
    fd = fs.openSync(fsPath(inodesFile(root, name)), 'r');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const { dev, ino } = fs.fstatSync(fd);
    const key = `${dev}:${ino}`;
    const known = decoded?.get(key);
    if (known !== undefined) return known;
    const table = decodeInodeTable(fs.readFileSync(fd));
    decoded?.set(key, table);
    return table;
  } finally {
    fs.closeSync(fd);
  }
}

/** Removes a snapshot's manifest files (after the snapshot itself: a snapshot without one still lists). */
export function removeManifest(root: RawPath, name: string): void {
  for (const suffix of MANIFEST_SUFFIXES) fs.rmSync(fsPath(joinRaw(snapshotDest(root).manifests, `${name}${suffix}`)), { force: true });
}

/** The snapshot names that have manifest files. */
export function manifestNames(root: RawPath): Set<string> {
  let names: string[];
  try {
    names = fs.readdirSync(fsPath(snapshotDest(root).manifests), { encoding: 'latin1' });
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return new Set();
    throw err;
  }
  const found = new Set<string>();
  for (const file of names) {
    const suffix = MANIFEST_SUFFIXES.find((s) => file.endsWith(s));
    if (suffix !== undefined) found.add(file.slice(0, -suffix.length));
  }
  return found;
}

/**
 * The files of a snapshot by the identity of the source file each was copied from: a source file with
 * the same device, inode, size, mtime, mode and owner is the same content, wherever it is now.
 */
export function reusableFiles(manifest: Manifest, keepOwner: boolean): ReusableFiles {
  const byIdentity = new Map<string, ManifestEntry>();
  for (const e of manifest.entries) if (e.kind === 'file' && e.srcIno !== 0) byIdentity.set(`${e.srcDev}:${e.srcIno}:${e.size}`, e);
  return {
    find(source: FileEntry): RawPath | undefined {
      const e = byIdentity.get(`${source.dev}:${source.ino}:${source.size}`);
      if (e === undefined || !sameMtime(e.mtimeMs, source.mtimeMs) || e.mode !== source.mode) return undefined;
      if (keepOwner && (e.uid !== source.uid || e.gid !== source.gid)) return undefined;
      return e.rel;
    },
  };
}
