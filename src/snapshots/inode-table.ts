/**
 * `<name>.inodes`: a snapshot's distinct file inodes, sorted, each with its size. Bytes unique to a
 * snapshot come from comparing these with its neighbours'; taking a snapshot counts the files it shares
 * with the previous one by walking both tables side by side, a block at a time, so neither is ever whole
 * in memory.
 *
 * Format 2: the 8 bytes `BKDINOD2`, then blocks of up to 65,536 pairs, each a 4-byte little-endian length
 * and one gzip member of [inode deltas…, sizes…] as Float64 (deltas from the last inode of the block
 * before: sorted inodes differ by little, and small numbers compress well, 2 KB for 20,000 files).
 * Format 1, of the first snapshots: one gzip stream of [all inode deltas…, all sizes…]; still read, whole.
 */
import fs from 'node:fs';
import zlib from 'node:zlib';
import { readFully, writeFully } from '../common/positioned-io.js';
import { openIfPresent } from '../common/optional-file.js';
import { joinRaw, type RawPath } from '../common/raw-path.js';
import type { ManifestEntry } from './manifest.js';
import { snapshotDest } from './layout.js';

const MAGIC = Buffer.from('BKDINOD2', 'latin1');
const BLOCK_PAIRS = 1 << 16;
const LENGTH_BYTES = 4;

export const inodesFile = (root: RawPath, name: string) => joinRaw(snapshotDest(root).manifests, `${name}.inodes`);

/** Writes a table of pairs given in ascending, distinct inode order, a block at a time. */
export class InodeTableWriter {
  private readonly block = new Float64Array(2 * BLOCK_PAIRS);
  private inBlock = 0;
  /** The last inode written, which the next block's first delta is taken from. */
  private base = 0;
  private last = -1;
  private position: number;

  constructor(private readonly fd: number) {
    writeFully(fd, MAGIC, 0);
    this.position = MAGIC.length;
  }

  add(ino: number, size: number): void {
    if (ino <= this.last) throw new Error(`inode table: ${ino} after ${this.last}`);
    this.last = ino;
    this.block[this.inBlock] = ino;
    this.block[BLOCK_PAIRS + this.inBlock] = size;
    if (++this.inBlock === BLOCK_PAIRS) this.writeBlock();
  }

  finish(): void {
    if (this.inBlock > 0) this.writeBlock();
  }

  private writeBlock(): void {
    const n = this.inBlock;
    const columns = new Float64Array(2 * n);
    let previous = this.base;
    for (let i = 0; i < n; i++) {
      const ino = this.block[i] as number;
      columns[i] = ino - previous;
      columns[n + i] = this.block[BLOCK_PAIRS + i] as number;
      previous = ino;
    }
    this.base = previous;
    const member = zlib.gzipSync(columns, { level: 1 });
    const length = Buffer.alloc(LENGTH_BYTES);
    length.writeUInt32LE(member.length);
    writeFully(this.fd, length, this.position);
    writeFully(this.fd, member, this.position + LENGTH_BYTES);
    this.position += LENGTH_BYTES + member.length;
    this.inBlock = 0;
  }
}

/**
 * The inodes of a table in ascending order, read a block at a time, for asking `holds` with ascending
 * inodes (a merge of two sorted lists). A format 1 table is read whole: the first snapshot after the
 * upgrade pays that once.
 */
export class InodeCursor {
  /** The current block's (ino, size) pairs, and the pair index `holds` stopped at. */
  private pairs: Float64Array = new Float64Array(0);
  private at = 0;
  /** Pairs in the blocks before this one. */
  private passed = 0;

  private constructor(private readonly blocks: Blocks) {}

  /** Undefined when the snapshot has no table. */
  static open(file: RawPath): InodeCursor | undefined {
    const blocks = openBlocks(file);
    return blocks === undefined ? undefined : new InodeCursor(blocks);
  }

  /** Over pairs in memory (a snapshot without a table, its pairs made from its tree). */
  static of(pairs: Float64Array): InodeCursor {
    return new InodeCursor(oneBlock(pairs));
  }

  /** Whether the table holds `ino`; each call's `ino` must be at least the last one's. */
  holds(ino: number): boolean {
    for (;;) {
      while (2 * this.at < this.pairs.length && (this.pairs[2 * this.at] as number) < ino) this.at++;
      if (2 * this.at < this.pairs.length) return this.pairs[2 * this.at] === ino;
      const next = this.blocks.next();
      if (next === undefined) return false;
      this.passed += this.pairs.length / 2;
      this.pairs = next;
      this.at = 0;
    }
  }

  /** The position in the table of the inode the last `holds` stopped at (the one it found, when it did). */
  get index(): number {
    return this.passed + this.at;
  }

  /** Frees what reading holds (its descriptor), however far it got. */
  close(): void {
    this.blocks.close();
  }
}

/** A table's blocks of (ino, size) pairs, one at a time. */
interface Blocks {
  next(): Float64Array | undefined;
  close(): void;
}

/** A format 2 table's blocks as they are read; a format 1 table (the first snapshots) as one block, read whole. */
function openBlocks(file: RawPath): Blocks | undefined {
  const fd = openIfPresent(file);
  if (fd === undefined) return undefined;
  if (startsWithMagic(fd)) return new BlockReader(fd);
  try {
    return oneBlock(decodeFormat1(fs.readFileSync(fd)));
  } finally {
    fs.closeSync(fd);
  }
}

/** Pairs in memory as a table of one block. */
function oneBlock(pairs: Float64Array): Blocks {
  let rest: Float64Array | undefined = pairs;
  return {
    next: () => {
      const block = rest;
      rest = undefined;
      return block;
    },
    close: () => (rest = undefined),
  };
}

/**
 * The (ino, size) pairs of the table at `file`, in ascending order, a block at a time (interleaved: ino,
 * size, ino, …); false without a table.
 */
export function forEachInodeBlock(file: RawPath, visit: (pairs: Float64Array) => void): boolean {
  const blocks = openBlocks(file);
  if (blocks === undefined) return false;
  try {
    for (let pairs = blocks.next(); pairs !== undefined; pairs = blocks.next()) visit(pairs);
    return true;
  } finally {
    blocks.close();
  }
}

/** The whole table at `file` when it has at most one block's pairs (read once, kept by the caller); else undefined. */
export function smallInodeTable(file: RawPath): Float64Array | undefined {
  const blocks = openBlocks(file);
  if (blocks === undefined) return undefined;
  try {
    const first = blocks.next() ?? new Float64Array(0);
    return first.length <= 2 * BLOCK_PAIRS && blocks.next() === undefined ? first : undefined;
  } finally {
    blocks.close();
  }
}

/** A format 2 file's blocks, each as (ino, size) pairs. */
class BlockReader implements Blocks {
  private position = MAGIC.length;
  private base = 0;
  private readonly size: number;

  constructor(private fd: number | undefined) {
    this.size = fs.fstatSync(fd as number).size;
  }

  next(): Float64Array | undefined {
    const fd = this.fd;
    if (fd === undefined || this.position >= this.size) return undefined;
    const length = Buffer.alloc(LENGTH_BYTES);
    readFully(fd, length, this.position, cutShort);
    const member = Buffer.alloc(length.readUInt32LE());
    readFully(fd, member, this.position + LENGTH_BYTES, cutShort);
    this.position += LENGTH_BYTES + member.length;
    const pairs = pairsOf(columnsOf(zlib.gunzipSync(member)), this.base);
    if (pairs.length > 0) this.base = pairs[pairs.length - 2] as number;
    return pairs;
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

/** (ino, size) of every distinct file inode of `entries`, sorted by inode. */
export function inodeTable(entries: readonly ManifestEntry[]): Float64Array {
  const files = entries.filter((e) => e.kind === 'file').sort((a, b) => a.ino - b.ino);
  const table = new Float64Array(2 * files.length);
  let out = 0;
  for (const { ino, size } of files) {
    if (out > 0 && table[out - 2] === ino) continue;
    table[out++] = ino;
    table[out++] = size;
  }
  return table.subarray(0, out);
}

function decodeFormat1(data: Buffer): Float64Array {
  return pairsOf(columnsOf(zlib.gunzipSync(data)), 0);
}

/** Raw bytes as Float64s; a small result may sit unaligned in Node's shared pool, and only then is copied. */
function columnsOf(raw: Buffer): Float64Array {
  return raw.byteOffset % 8 === 0 ? new Float64Array(raw.buffer, raw.byteOffset, raw.length / 8) : new Float64Array(new Uint8Array(raw).buffer);
}

/** [deltas…, sizes…] → interleaved (ino, size) pairs, the deltas counted from `base`. */
function pairsOf(columns: Float64Array, base: number): Float64Array {
  const n = columns.length / 2;
  const pairs = new Float64Array(columns.length);
  let ino = base;
  for (let i = 0; i < n; i++) {
    ino += columns[i] as number;
    pairs[2 * i] = ino;
    pairs[2 * i + 1] = columns[n + i] as number;
  }
  return pairs;
}

function startsWithMagic(fd: number): boolean {
  const head = Buffer.alloc(MAGIC.length);
  const read = fs.readSync(fd, head, 0, head.length, 0);
  return read === MAGIC.length && head.equals(MAGIC);
}

function cutShort(): Error {
  return Object.assign(new Error('an .inodes file ends inside a block'), { code: 'ESHORTREAD' });
}
