/**
 * What differs from one snapshot to another, in memory that does not grow with the trees: the entries of
 * both manifests, streamed a chunk at a time, become fixed-size records keyed by a hash of their path and
 * sorted together (record-sort.ts, spilling beside the manifests, or into the system's temporary folder
 * when the dest is read-only); equal paths then sit side by side.
 * Only the paths to print are kept: the answer's size is the change's, not the tree's.
 *
 * Paths and symlink targets are compared by two independent 52-bit hashes (a false match needs both to
 * collide: about one in 2^104); the paths shown are the real bytes, read back from a spill.
 */
import { errorData, type EntryWarning } from '../common/errors.js';
import { displayPath, type RawPath } from '../common/raw-path.js';
import { RecordSorter } from '../common/record-sort.js';
import { SpillFile } from '../common/spill-file.js';
import { fileIdentity, walkedManifest } from './history.js';
import { spillFolder, type SnapshotRef } from './layout.js';
import { forEachManifestEntry, manifestFile, type ManifestEntry, type ManifestKind } from './manifest.js';

export interface SnapshotDiff {
  readonly added: string[];
  readonly removed: string[];
  readonly changed: string[];
}

const FIELD = { key: 0, check: 1, side: 2, kind: 3, mode: 4, ino: 5, targetKey: 6, targetCheck: 7, pathAt: 8, pathLength: 9 } as const;
const WIDTH = Object.keys(FIELD).length;
const KIND_CODE: Record<ManifestKind, number> = { file: 0, dir: 1, symlink: 2 };
const BEFORE = 0;
const AFTER = 1;

/**
 * What differs from snapshot `a` to snapshot `b`, by path relative to the backed-up root. A file changed
 * when it is another inode (a new copy: its content or metadata changed; files are never changed in
 * place); a folder only when its mode did (its mtime moves with every change inside it, which is listed
 * already); a symlink when its target did. A snapshot whose manifest is missing or damaged is walked
 * instead (`warn` is told of the damage).
 */
export async function diffSnapshots(root: RawPath, a: SnapshotRef, b: SnapshotRef, warn: (warning: EntryWarning) => void): Promise<SnapshotDiff> {
  // Manifests of an unchanged tree are one file, linked: nothing differs, and nothing need be read.
  const manifestA = fileIdentity(manifestFile(root, a.name));
  if (manifestA !== undefined && manifestA === fileIdentity(manifestFile(root, b.name))) return { added: [], removed: [], changed: [] };
  const folder = spillFolder(root);
  const walked = new Set<string>();
  for (;;) {
    const records = new DiffRecords(folder);
    try {
      // A manifest that breaks off half-way has already added entries: start over with its folder walked.
      const broken = (await records.addSnapshot(root, a, BEFORE, walked)) ?? (await records.addSnapshot(root, b, AFTER, walked));
      if (broken === undefined) return records.diff();
      warn(broken.warning);
      walked.add(broken.name);
    } finally {
      records.close();
    }
  }
}

/** Both snapshots' entries as sortable records, and their paths. */
class DiffRecords {
  private readonly sorter: RecordSorter;
  private readonly paths: SpillFile;
  private readonly record = new Float64Array(WIDTH);

  constructor(folder: RawPath) {
    this.sorter = new RecordSorter({ width: WIDTH, tempFolder: folder });
    this.paths = new SpillFile(folder);
  }

  /** Adds a snapshot's entries (walked when named in `walk`); returns why its manifest could not be read through, if it could not. */
  async addSnapshot(root: RawPath, ref: SnapshotRef, side: number, walk: ReadonlySet<string>): Promise<{ name: string; warning: EntryWarning } | undefined> {
    const add = (e: ManifestEntry) => this.add(e, side);
    if (!walk.has(ref.name)) {
      try {
        if (await forEachManifestEntry(root, ref.name, add)) return undefined;
      } catch (err) {
        const { code, message } = errorData(err);
        return { name: ref.name, warning: { path: displayPath(manifestFile(root, ref.name)), code, message: `cannot be read (${message}); snapshot ${ref.name} is read from its folder instead` } };
      }
    }
    for (const e of walkedManifest(ref).entries) add(e);
    return undefined;
  }

  diff(): SnapshotDiff {
    const found: { added: RawPath[]; removed: RawPath[]; changed: RawPath[] } = { added: [], removed: [], changed: [] };
    // The records of one key, copied into rows reused from key to key (as a rule one or two of them).
    const rows: Float64Array[] = [];
    let inGroup = 0;
    this.sorter.drain((record) => {
      if (inGroup > 0 && rows[0]?.[FIELD.key] !== record[FIELD.key]) {
        this.classify(rows.slice(0, inGroup), found);
        inGroup = 0;
      }
      if (inGroup === rows.length) rows.push(new Float64Array(WIDTH));
      (rows[inGroup++] as Float64Array).set(record);
    });
    this.classify(rows.slice(0, inGroup), found);
    const shown = (rels: RawPath[]) => rels.sort().map(displayPath);
    return { added: shown(found.added), removed: shown(found.removed), changed: shown(found.changed) };
  }

  close(): void {
    this.sorter.close();
    this.paths.close();
  }

  private add(e: ManifestEntry, side: number): void {
    const r = this.record;
    [r[FIELD.key], r[FIELD.check]] = keysOf(e.rel);
    r[FIELD.side] = side;
    r[FIELD.kind] = KIND_CODE[e.kind];
    r[FIELD.mode] = e.mode;
    r[FIELD.ino] = e.ino;
    [r[FIELD.targetKey], r[FIELD.targetCheck]] = e.target === undefined ? [0, 0] : keysOf(e.target);
    r[FIELD.pathAt] = this.paths.appendRaw(e.rel);
    r[FIELD.pathLength] = e.rel.length;
    this.sorter.add(r);
  }

  /** Records of one path key (as a rule one path, in both snapshots or one), sorted into the lists. */
  private classify(group: readonly Float64Array[], found: { added: RawPath[]; removed: RawPath[]; changed: RawPath[] }): void {
    for (const record of group) {
      const twin = group.find((other) => other[FIELD.side] !== record[FIELD.side] && other[FIELD.check] === record[FIELD.check]);
      if (record[FIELD.side] === AFTER) {
        if (twin === undefined) found.added.push(this.pathOf(record));
        else if (changed(twin, record)) found.changed.push(this.pathOf(record));
      } else if (twin === undefined) found.removed.push(this.pathOf(record));
    }
  }

  private pathOf(record: Float64Array): RawPath {
    return this.paths.readRaw(record[FIELD.pathAt] as number, record[FIELD.pathLength] as number);
  }
}

function changed(a: Float64Array, b: Float64Array): boolean {
  if (a[FIELD.kind] !== b[FIELD.kind] || a[FIELD.mode] !== b[FIELD.mode]) return true;
  if (a[FIELD.kind] === KIND_CODE.symlink) return a[FIELD.targetKey] !== b[FIELD.targetKey] || a[FIELD.targetCheck] !== b[FIELD.targetCheck];
  // A new inode is a new copy: new content, or metadata that changed (never changed in place).
  if (a[FIELD.kind] === KIND_CODE.file) return a[FIELD.ino] !== b[FIELD.ino];
  return false;
}

/**
 * Two independent 52-bit hashes of a raw string (FNV-1a and a multiply-xorshift, 26 bits of each of two
 * 32-bit states): exact as Float64s, and together a false match about once in 2^104.
 */
function keysOf(text: RawPath): [number, number] {
  let a1 = 0x811c9dc5;
  let a2 = 0x9e3779b9;
  let b1 = 0x01000193;
  let b2 = 0x85ebca6b;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a1 = Math.imul(a1 ^ c, 0x01000193);
    a2 = Math.imul(a2 ^ c, 0x5bd1e995);
    a2 ^= a2 >>> 15;
    b1 = Math.imul(b1 + c, 0xcc9e2d51);
    b1 ^= b1 >>> 13;
    b2 = Math.imul(b2 ^ c, 0x1b873593);
    b2 ^= b2 >>> 16;
  }
  return [(a1 >>> 6) * 2 ** 26 + (a2 >>> 6), (b1 >>> 6) * 2 ** 26 + (b2 >>> 6)];
}
