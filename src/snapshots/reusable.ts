/**
 * The files of the previous snapshot by the identity of the source file each was copied from: a source
 * file with the same device, inode, size, mtime, mode (and owner, when owners are kept) is the same
 * content, wherever it is now, and is linked from the snapshot instead of copied (a moved folder).
 *
 * A backup holds it for its whole sync, so beyond a few MiB it lives on disk, in unlinked temporaries
 * beside the manifests (spillFolder, spill-file.ts): the entries as fixed-size records sorted by source inode
 * (record-sort.ts), and their paths. Memory keeps the first source inode of every block of records (1/64
 * of a number per file); a lookup reads the one or two blocks its inode can be in, from the page cache as
 * a rule.
 */
import { errorData } from '../common/errors.js';
import { Float64Column } from '../common/float64-column.js';
import { RecordSorter } from '../common/record-sort.js';
import type { RawPath } from '../common/raw-path.js';
import { SpillFile } from '../common/spill-file.js';
import { sameMtime } from '../plan/compare.js';
import type { FileEntry, ReusableFiles } from '../plan/types.js';
import { spillFolder } from './layout.js';
import { forEachManifestEntry, type ManifestEntry } from './manifest.js';

/** The moved-file index could not be written to its temporaries: `code` is the write's (ENOSPC, EIO, …). */
export class IndexSpillError extends Error {
  readonly code: string;

  constructor(cause: unknown) {
    const { code, message } = errorData(cause);
    super(message, { cause });
    this.name = 'IndexSpillError';
    this.code = code;
  }
}

function spilling<T>(step: () => T): T {
  try {
    return step();
  } catch (err) {
    throw new IndexSpillError(err);
  }
}

/** Where each field sits in a record; the source inode first, as the sort key. */
const FIELD = { srcIno: 0, srcDev: 1, size: 2, mtimeMs: 3, mode: 4, uid: 5, gid: 6, pathAt: 7, pathLength: 8 } as const;
const WIDTH = Object.keys(FIELD).length;
const RECORD_BYTES = WIDTH * 8;
/** Records per block: what a lookup reads (4.5 KiB), and the stride of the keys kept in memory. */
const BLOCK_RECORDS = 64;

export interface ReusableIndexOptions {
  readonly keepOwner: boolean;
  /** Where the temporaries go. */
  readonly tempFolder: RawPath;
  /** Records per sort run, and bytes of records or paths held before they go to disk (tests make them small). */
  readonly runRecords?: number;
  readonly bufferBytes?: number;
}

export class ReusableIndex implements ReusableFiles {
  private readonly sorter: RecordSorter;
  private readonly record = new Float64Array(WIDTH);
  private readonly paths: SpillFile;
  private readonly records: SpillFile;
  private sealed = false;
  private count = 0;
  /** The source inode of the first record of each block. */
  private readonly blockKeys = new Float64Column();
  /** The block last read, kept: files of a moved folder look up neighbouring inodes. */
  private cached = { block: -1, data: new Float64Array(BLOCK_RECORDS * WIDTH) };

  private constructor(private readonly options: ReusableIndexOptions) {
    this.sorter = new RecordSorter({ width: WIDTH, tempFolder: options.tempFolder, runRecords: options.runRecords });
    this.paths = new SpillFile(options.tempFolder, options.bufferBytes);
    this.records = new SpillFile(options.tempFolder, options.bufferBytes);
  }

  /**
   * The previous snapshot's files, read from its manifest a chunk at a time; undefined without one. A
   * temporary that cannot be written (the dest is full) throws an IndexSpillError, a manifest that cannot
   * be read what reading it threw.
   */
  static async load(root: RawPath, snapshot: string, keepOwner: boolean): Promise<ReusableIndex | undefined> {
    const index = new ReusableIndex({ keepOwner, tempFolder: spillFolder(root) });
    try {
      if (!(await forEachManifestEntry(root, snapshot, (e) => spilling(() => index.add(e))))) {
        index.close();
        return undefined;
      }
      spilling(() => index.seal());
      return index;
    } catch (err) {
      index.close();
      throw err;
    }
  }

  static of(entries: Iterable<ManifestEntry>, options: ReusableIndexOptions): ReusableIndex {
    const index = new ReusableIndex(options);
    for (const e of entries) index.add(e);
    index.seal();
    return index;
  }

  find(source: FileEntry): RawPath | undefined {
    if (!this.sealed) return undefined;
    for (let block = this.firstBlockFor(source.ino); block * BLOCK_RECORDS < this.count; block++) {
      const data = this.readBlock(block);
      const inBlock = Math.min(BLOCK_RECORDS, this.count - block * BLOCK_RECORDS);
      for (let r = 0; r < inBlock; r++) {
        const at = r * WIDTH;
        const ino = data[at + FIELD.srcIno] as number;
        if (ino < source.ino) continue;
        if (ino > source.ino) return undefined;
        if (this.matches(data, at, source)) return this.paths.readRaw(data[at + FIELD.pathAt] as number, data[at + FIELD.pathLength] as number);
      }
    }
    return undefined;
  }

  /** Frees the temporaries; the index finds nothing afterwards. */
  close(): void {
    this.sealed = false;
    this.sorter.close();
    this.paths.close();
    this.records.close();
  }

  private add(e: ManifestEntry): void {
    // Without a known source identity (changed since it was copied, or not a file) nothing can match it.
    if (e.kind !== 'file' || e.srcIno === 0) return;
    const r = this.record;
    r[FIELD.srcIno] = e.srcIno;
    r[FIELD.srcDev] = e.srcDev;
    r[FIELD.size] = e.size;
    r[FIELD.mtimeMs] = e.mtimeMs;
    r[FIELD.mode] = e.mode;
    r[FIELD.uid] = e.uid;
    r[FIELD.gid] = e.gid;
    r[FIELD.pathAt] = this.paths.appendRaw(e.rel);
    r[FIELD.pathLength] = e.rel.length;
    this.sorter.add(r);
  }

  /** The sorted records into their file, a block of keys remembered. */
  private seal(): void {
    const out = new Float64Array(BLOCK_RECORDS * WIDTH);
    let inBlock = 0;
    const writeBlock = () => {
      this.records.append(new Uint8Array(out.buffer, 0, inBlock * RECORD_BYTES));
      inBlock = 0;
    };
    this.sorter.drain((record) => {
      if (inBlock === 0) this.blockKeys.push(record[FIELD.srcIno] as number);
      out.set(record, inBlock * WIDTH);
      this.count++;
      if (++inBlock === BLOCK_RECORDS) writeBlock();
    });
    if (inBlock > 0) writeBlock();
    this.sealed = true;
  }

  /**
   * The block to start looking in: the last whose first key is below `ino` (records equal to it may
   * begin at its end), or the first block.
   */
  private firstBlockFor(ino: number): number {
    const keys = this.blockKeys.values();
    let low = 0;
    let high = keys.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((keys[mid] as number) < ino) low = mid + 1;
      else high = mid;
    }
    return Math.max(0, low - 1);
  }

  private readBlock(block: number): Float64Array {
    if (this.cached.block !== block) {
      const records = Math.min(BLOCK_RECORDS, this.count - block * BLOCK_RECORDS);
      this.records.read(new Uint8Array(this.cached.data.buffer, 0, records * RECORD_BYTES), block * BLOCK_RECORDS * RECORD_BYTES);
      this.cached.block = block;
    }
    return this.cached.data;
  }

  private matches(data: Float64Array, at: number, source: FileEntry): boolean {
    if (data[at + FIELD.srcDev] !== source.dev || data[at + FIELD.size] !== source.size) return false;
    if (!sameMtime(data[at + FIELD.mtimeMs] as number, source.mtimeMs) || data[at + FIELD.mode] !== source.mode) return false;
    return !this.options.keepOwner || (data[at + FIELD.uid] === source.uid && data[at + FIELD.gid] === source.gid);
  }
}
