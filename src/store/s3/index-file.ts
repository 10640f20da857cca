/**
 * The store's index: one gzip'd object per dest, beside the objects, holding what a listing does not
 * return (ListObjectsV2 gives key, size and ETag, not user metadata): each entry's kind, mtime, mode,
 * owner, link target and SHA-256. A record counts only while the listed ETag and size still match it,
 * so an object changed behind backupd's back is copied again. The key cannot be produced by keyOfRel
 * (a bare `%` not followed by hex), so no file of the tree can clash with it.
 *
 * Format 2 is lines: `{"version":2}`, then one JSON array per key,
 * `[key, kind, size, etag, mtimeMs, mode, uid, gid, sha256 | target]`. It is written and read a line at
 * a time because V8 caps a string at 2^29 characters: format 1, one JSON object, could be neither
 * written nor read beyond about two million keys. Format 1 is still read.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';

export const INDEX_NAME = '%index.backupd.json.gz';
const VERSION = 2;
/** Lines are handed to gzip in strings of about this many characters. */
const BATCH_CHARS = 1 << 16;

export interface IndexRecord {
  readonly kind: 'file' | 'dir' | 'symlink';
  readonly size: number;
  readonly etag: string;
  readonly mtimeMs: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Files: hex SHA-256 of the content (for --checksum and restore verification). */
  readonly sha256?: string;
  /** Symlinks: the target's bytes, base64. */
  readonly target?: string;
}

/** Key text (without the dest's prefix) → record. */
export type StoreIndex = Map<string, IndexRecord>;

type Line = [key: string, kind: IndexRecord['kind'], size: number, etag: string, mtimeMs: number, mode: number, uid: number, gid: number, extra?: string];

/** Reads a gzip'd index, either format; an index of an unknown (later) version reads as empty. */
export async function parseIndex(gzipped: NodeJS.ReadableStream): Promise<StoreIndex> {
  const index: StoreIndex = new Map();
  let version: number | undefined;
  const readLine = (line: string): void => {
    if (version === undefined) {
      const header = JSON.parse(line) as { version: number; entries?: Record<string, IndexRecord> };
      version = header.version;
      if (version === 1) for (const [key, record] of Object.entries(header.entries ?? {})) index.set(key, record);
    } else if (version === VERSION && line !== '') {
      const [key, record] = recordOf(JSON.parse(line) as Line);
      index.set(key, record);
    }
  };
  await pipeline(gzipped, createGunzip().setEncoding('utf8'), (chunks: AsyncIterable<string>) => eachLine(chunks, readLine));
  return version === 1 || version === VERSION ? index : new Map();
}

export async function serializeIndex(index: StoreIndex): Promise<Buffer> {
  const compressed: Buffer[] = [];
  // Level 1: a third of level 6's time for an output about 6 % larger (an index is mostly hex hashes).
  await pipeline(Readable.from(batchesOf(index)), createGzip({ level: 1 }), async (chunks: AsyncIterable<Buffer>) => {
    for await (const chunk of chunks) compressed.push(chunk);
  });
  return Buffer.concat(compressed);
}

/** Calls `onLine` for each line; a line's pieces are joined once, however many chunks it spans (format 1 is one line). */
async function eachLine(chunks: AsyncIterable<string>, onLine: (line: string) => void): Promise<void> {
  let pending: string[] = [];
  for await (const chunk of chunks) {
    let start = 0;
    for (let end = chunk.indexOf('\n'); end !== -1; end = chunk.indexOf('\n', start)) {
      pending.push(chunk.slice(start, end));
      onLine(pending.join(''));
      pending = [];
      start = end + 1;
    }
    if (start < chunk.length) pending.push(chunk.slice(start));
  }
  if (pending.length > 0) onLine(pending.join(''));
}

function* batchesOf(index: StoreIndex): Generator<string> {
  let batch = `${JSON.stringify({ version: VERSION })}\n`;
  for (const [key, record] of index) {
    batch += `${JSON.stringify(lineOf(key, record))}\n`;
    if (batch.length >= BATCH_CHARS) {
      yield batch;
      batch = '';
    }
  }
  yield batch;
}

function lineOf(key: string, { kind, size, etag, mtimeMs, mode, uid, gid, sha256, target }: IndexRecord): Line {
  const line: Line = [key, kind, size, etag, mtimeMs, mode, uid, gid];
  const extra = kind === 'symlink' ? target : sha256;
  if (extra !== undefined) line.push(extra);
  return line;
}

function recordOf([key, kind, size, etag, mtimeMs, mode, uid, gid, extra]: Line): [string, IndexRecord] {
  // Literals, not spreads of a shared base: a spread copies slowly, and a million records are read.
  if (extra === undefined) return [key, { kind, size, etag, mtimeMs, mode, uid, gid }];
  if (kind === 'symlink') return [key, { kind, size, etag, mtimeMs, mode, uid, gid, target: extra }];
  return [key, { kind, size, etag, mtimeMs, mode, uid, gid, sha256: extra }];
}
