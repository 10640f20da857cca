/**
 * One manifest per snapshot in `.backupd/manifests/`, so that listing, diff and the history of a file
 * never walk snapshot trees, and so that a folder moved in the source can be linked from where the last
 * snapshot holds it.
 *
 *   <name>.json.gz   every entry, column by column (paths, kind, size, mtime, mode, owner, the snapshot's
 *                    inode, the source's device and inode, symlink targets), in chunks of 4,096 entries:
 *                    one line of JSON per chunk, each gzip'd on its own (a multi-member gzip file), so it
 *                    is written and read a chunk at a time in bounded memory, and parsed with one
 *                    JSON.parse per 4,096 entries instead of one per entry. (The first manifests were one
 *                    chunk of every entry: the same format with one line.) Names and times are in
 *                    `.stats` only, so the entries of an unchanged tree are byte for byte the previous
 *                    snapshot's
 *   <name>.stats     files, bytes, failed: what `backup snapshots` prints without opening the above
 *   <name>.inodes    the snapshot's distinct file inodes, sorted, with their sizes (inode-table.ts)
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
import { openIfPresent } from '../common/optional-file.js';
import { RecordSorter } from '../common/record-sort.js';
import { sameMtime } from '../plan/compare.js';
import type { Entry, Tree } from '../plan/types.js';
import { InodeCursor, inodesFile, InodeTableWriter } from './inode-table.js';
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

/** A snapshot's entries file. */
export const manifestFile = (root: RawPath, name: string) => joinRaw(snapshotDest(root).manifests, `${name}.json.gz`);
const statsFile = (root: RawPath, name: string) => joinRaw(snapshotDest(root).manifests, `${name}.stats`);

/** The suffixes of a snapshot's manifest files (for removing a snapshot's, or finding orphans). */
export const MANIFEST_SUFFIXES = ['.json.gz', '.stats', '.inodes'] as const;

/** Entries per chunk: one JSON.parse each when read, one gzip member each when written. */
const CHUNK_ENTRIES = 4096;

/** The snapshot's entries from the walk of what it was made of, with the source's identity where known. */
export function manifestEntries(snapshotTree: Tree, source: Tree): ManifestEntry[] {
  const entries: ManifestEntry[] = [];
  for (const entry of snapshotTree.entries.values()) {
    const e = entry.rel === '' ? undefined : manifestEntry(entry, source.entries.get(entry.rel));
    if (e !== undefined) entries.push(e);
  }
  return entries;
}

/**
 * One entry of a snapshot (undefined for what a snapshot does not hold: FIFOs, sockets, devices), with
 * the identity of `from`, the source entry at the same path, when this copy is current with it.
 */
export function manifestEntry(entry: Entry, from: Entry | undefined): ManifestEntry | undefined {
  if (entry.kind === 'special') return undefined;
  const base = { rel: entry.rel, kind: entry.kind, mtimeMs: entry.mtimeMs, mode: entry.mode, uid: entry.uid, gid: entry.gid };
  if (entry.kind === 'file') {
    // Only a source file that this copy is current with identifies it; anything else would link a wrong
    // version into the next snapshot.
    const known = from?.kind === 'file' && from.size === entry.size && sameMtime(from.mtimeMs, entry.mtimeMs);
    return { ...base, size: entry.size, ino: entry.ino, srcDev: known ? from.dev : 0, srcIno: known ? from.ino : 0 };
  }
  return { ...base, size: 0, ino: 0, srcDev: 0, srcIno: 0, ...(entry.kind === 'symlink' ? { target: entry.target } : {}) };
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

/** A whole manifest written at once (ManifestWriter, fed every entry). */
export function writeManifest(root: RawPath, manifest: Manifest, previous?: string): void {
  const writer = new ManifestWriter(root, manifest.name, new Date(manifest.time));
  try {
    for (const e of manifest.entries) writer.add(e);
    writer.finish(manifest.failed, previous);
  } catch (err) {
    writer.abandon();
    throw err;
  }
}

/** What a snapshot's files share with the previous snapshot's. */
export interface SharedWithPrevious {
  /** Files whose inode the previous snapshot holds too: they cost nothing. */
  readonly linked: number;
  /** Bytes of the other files: content new since the previous snapshot. */
  readonly bytesNew: number;
}

/**
 * A manifest written entry by entry, in bounded memory: a chunk of columns at a time goes to a temporary
 * file, and the (ino, size) pairs of files to a sort that spills to disk (record-sort.ts). `finish` puts
 * the three files in place, each atomically but not flushed: the snapshot's commit (rename into place)
 * comes after one flush of the whole filesystem, which covers them. Files equal to those of `previous`
 * (an unchanged tree) are hard links to them.
 */
export class ManifestWriter {
  private columns = emptyColumns();
  private kinds = '';
  private inChunk = 0;
  private chunks = 0;
  private files = 0;
  private bytes = 0;
  private readonly inodes: RecordSorter;
  private readonly pair = new Float64Array(2);
  private readonly temp: RawPath;
  private fd: number | undefined;

  constructor(
    private readonly root: RawPath,
    readonly name: string,
    private readonly time: Date,
  ) {
    const { manifests } = snapshotDest(root);
    fs.mkdirSync(fsPath(manifests), { recursive: true, mode: 0o700 });
    this.inodes = new RecordSorter({ width: 2, tempFolder: manifests });
    this.temp = siblingTemp(manifestFile(root, name));
    this.fd = fs.openSync(fsPath(this.temp), fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  }

  add(e: ManifestEntry): void {
    const c = this.columns;
    if (e.target !== undefined) c.target[this.inChunk] = e.target;
    c.rel.push(e.rel);
    this.kinds += KIND_CODES[e.kind];
    c.size.push(e.size);
    c.mtimeMs.push(e.mtimeMs);
    c.mode.push(e.mode);
    c.uid.push(e.uid);
    c.gid.push(e.gid);
    c.ino.push(e.ino);
    c.srcDev.push(e.srcDev);
    c.srcIno.push(e.srcIno);
    if (e.kind === 'file') {
      this.files++;
      this.bytes += e.size;
      this.pair[0] = e.ino;
      this.pair[1] = e.size;
      this.inodes.add(this.pair);
    }
    if (++this.inChunk === CHUNK_ENTRIES) this.writeChunk();
  }

  /** Puts the manifest in place; returns its stats and what it shares with `previous`. */
  finish(failed: boolean, previous?: string): { readonly stats: SnapshotStats; readonly shared: SharedWithPrevious } {
    if (this.inChunk > 0 || this.chunks === 0) this.writeChunk();
    fs.closeSync(this.fd as number);
    this.fd = undefined;
    const stats: SnapshotStats = { name: this.name, time: this.time.toISOString(), files: this.files, bytes: this.bytes, failed };
    const sameAs = (file: (root: RawPath, name: string) => RawPath) => (previous === undefined ? undefined : file(this.root, previous));
    placeOrLink(manifestFile(this.root, this.name), this.temp, sameAs(manifestFile));
    const inodes = siblingTemp(inodesFile(this.root, this.name));
    const shared = this.writeInodeTable(inodes, previous);
    placeOrLink(inodesFile(this.root, this.name), inodes, sameAs(inodesFile));
    writeFileAtomic(statsFile(this.root, this.name), JSON.stringify(stats), { durable: false });
    return { stats, shared };
  }

  /**
   * The sorted pairs, once each, into the `.inodes` file at `file`; on the way every file is counted as
   * shared with `previous` or new, by walking the previous table alongside.
   */
  private writeInodeTable(file: RawPath, previous: string | undefined): SharedWithPrevious {
    const fd = fs.openSync(fsPath(file), fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
    const before = previous === undefined ? undefined : InodeCursor.open(inodesFile(this.root, previous));
    let linked = 0;
    let bytesNew = 0;
    try {
      const table = new InodeTableWriter(fd);
      let last = -1;
      this.inodes.drain(([ino, size]) => {
        if (before?.holds(ino as number) === true) linked++;
        else bytesNew += size as number;
        if (ino !== last) table.add(ino as number, size as number);
        last = ino as number;
      });
      table.finish();
    } finally {
      before?.close();
      fs.closeSync(fd);
    }
    return { linked, bytesNew };
  }

  /** Removes the temporary of a manifest that will not be finished. */
  abandon(): void {
    this.inodes.close();
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
    fs.rmSync(fsPath(this.temp), { force: true });
  }

  private writeChunk(): void {
    const json = JSON.stringify({ format: 1, columns: { ...this.columns, kind: this.kinds } });
    const data = zlib.gzipSync(`${json}\n`, { level: 1 });
    for (let at = 0; at < data.length; ) at += fs.writeSync(this.fd as number, data, at);
    this.columns = emptyColumns();
    this.kinds = '';
    this.inChunk = 0;
    this.chunks++;
  }
}

function emptyColumns(): Omit<Columns, 'kind'> {
  return { rel: [], size: [], mtimeMs: [], mode: [], uid: [], gid: [], ino: [], srcDev: [], srcIno: [], target: {} };
}

function siblingTemp(file: RawPath): RawPath {
  return joinRaw(parentRel(file), baseName(tempRelFor(file)));
}

/**
 * The written `temp` at `file`, or, when `equal` holds exactly the same bytes, a hard link to `equal`
 * there instead (and `temp` removed).
 */
function placeOrLink(file: RawPath, temp: RawPath, equal: RawPath | undefined): void {
  if (equal !== undefined && sameBytes(equal, temp)) {
    const link = siblingTemp(file);
    try {
      fs.linkSync(fsPath(equal), fsPath(link));
      fs.renameSync(fsPath(link), fsPath(file));
      fs.rmSync(fsPath(temp), { force: true });
      return;
    } catch {
      // Too many links, or it vanished: keep the copy of its own.
      fs.rmSync(fsPath(link), { force: true });
    }
  }
  fs.renameSync(fsPath(temp), fsPath(file));
}

/** Whether two files hold the same bytes, compared a MiB at a time. */
function sameBytes(a: RawPath, b: RawPath): boolean {
  let fdA: number | undefined;
  let fdB: number | undefined;
  try {
    fdA = fs.openSync(fsPath(a), 'r');
    fdB = fs.openSync(fsPath(b), 'r');
    if (fs.fstatSync(fdA).size !== fs.fstatSync(fdB).size) return false;
    const bufA = Buffer.allocUnsafe(1 << 20);
    const bufB = Buffer.allocUnsafe(1 << 20);
    for (let position = 0; ; position += bufA.length) {
      const readA = fs.readSync(fdA, bufA, 0, bufA.length, position);
      const readB = fs.readSync(fdB, bufB, 0, bufB.length, position);
      if (readA !== readB || !bufA.subarray(0, readA).equals(bufB.subarray(0, readB))) return false;
      if (readA === 0) return true;
    }
  } catch {
    return false;
  } finally {
    if (fdA !== undefined) fs.closeSync(fdA);
    if (fdB !== undefined) fs.closeSync(fdB);
  }
}

/** A snapshot's whole manifest, or undefined when it has none (taken by another tool, or lost). */
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
  const entries: ManifestEntry[] = [];
  // JSON escapes newlines inside strings: a newline only ends a chunk.
  for (const line of zlib.gunzipSync(data).toString('utf8').split('\n')) if (line !== '') entries.push(...chunkEntries(line));
  return { name: stats.name, time: stats.time, files: stats.files, bytes: stats.bytes, failed: stats.failed, entries };
}

/**
 * Every entry of a snapshot's manifest, a chunk at a time (bounded memory however large the snapshot);
 * false when it has none.
 */
export async function forEachManifestEntry(root: RawPath, name: string, visit: (e: ManifestEntry) => void): Promise<boolean> {
  const fd = openIfPresent(manifestFile(root, name));
  if (fd === undefined) return false;
  let pending: Buffer[] = [];
  const parseLine = (line: Buffer) => {
    // A newline byte is never part of a UTF-8 sequence: the lines split as the text would.
    if (line.length > 0) for (const e of chunkEntries(line.toString('utf8'))) visit(e);
  };
  for await (const piece of fs.createReadStream('', { fd }).pipe(zlib.createGunzip()) as AsyncIterable<Buffer>) {
    let start = 0;
    for (let end = piece.indexOf(10); end >= 0; end = piece.indexOf(10, start)) {
      parseLine(Buffer.concat([...pending, piece.subarray(start, end)]));
      pending = [];
      start = end + 1;
    }
    if (start < piece.length) pending.push(piece.subarray(start));
  }
  parseLine(Buffer.concat(pending));
  return true;
}

/** One chunk's entries, from its line of JSON. */
function chunkEntries(text: string): ManifestEntry[] {
  const c = (JSON.parse(text) as { columns: Columns }).columns;
  return c.rel.map((rel, i) => ({
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
}

export function readStats(root: RawPath, name: string): SnapshotStats | undefined {
  try {
    return JSON.parse(fs.readFileSync(fsPath(statsFile(root, name)), 'utf8')) as SnapshotStats;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
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
