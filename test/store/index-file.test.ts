/**
 * The store's index (store/s3/index-file.ts) as bytes: format 2 round-trips every kind of record a
 * line per key, across gzip's chunk boundaries, and format 1 (one JSON object) is still read.
 */
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { parseIndex, serializeIndex, type IndexRecord, type StoreIndex } from '../../src/store/s3/index-file.js';

const FILE: IndexRecord = { kind: 'file', size: 12, etag: '0123456789abcdef0123456789abcdef', mtimeMs: 1733270400123.5, mode: 0o640, uid: 1000, gid: 100, sha256: 'ab'.repeat(32) };
const DIR: IndexRecord = { kind: 'dir', size: 0, etag: '', mtimeMs: 1733270400000, mode: 0o755, uid: 0, gid: 0 };
const LINK: IndexRecord = { kind: 'symlink', size: 0, etag: 'd41d8cd98f00b204e9800998ecf8427e', mtimeMs: 1, mode: 0o777, uid: 5, gid: 6, target: Buffer.from('../a\nb').toString('base64') };

const body = (bytes: Uint8Array): Readable => Readable.from([bytes]);

describe('store index', () => {
  it('round-trips files, folders and symlinks, with keys holding newlines, quotes and multi-byte text', async () => {
    const index: StoreIndex = new Map([
      ['', DIR],
      ['docs/', DIR],
      ['docs/notes "one".md', FILE],
      ['docs/line\nbreak', FILE],
      ['docs/%FF%FEnot-utf8', FILE],
      ['docs/é文😀', LINK],
    ]);
    const parsed = await parseIndex(body(await serializeIndex(index)));
    expect([...parsed]).toEqual([...index]);
  });

  it('is one line per key after a version line, and reads back across chunk boundaries', async () => {
    const index: StoreIndex = new Map();
    // Multi-byte keys, so that gunzip's chunks split characters as well as lines.
    for (let i = 0; i < 30_000; i++) index.set(`dir-${i % 97}/файл-${i}-😀.txt`, { ...FILE, size: i });
    const gzipped = await serializeIndex(index);
    const lines = gunzipSync(gzipped).toString('utf8').split('\n');
    expect(lines[0]).toBe('{"version":2}');
    expect(lines.filter((line) => line !== '')).toHaveLength(index.size + 1);
    // The stream handed over in small pieces, as a socket does.
    const pieces = Array.from({ length: Math.ceil(gzipped.length / 1000) }, (_, i) => gzipped.subarray(i * 1000, (i + 1) * 1000));
    const parsed = await parseIndex(Readable.from(pieces));
    expect(parsed.size).toBe(index.size);
    expect(parsed.get(`dir-${29_880 % 97}/файл-29880-😀.txt`)).toEqual({ ...FILE, size: 29_880 });
  });

  it('reads format 1 (one JSON object), and an index of an unknown version as empty', async () => {
    const v1 = gzipSync(JSON.stringify({ version: 1, entries: { 'a.txt': FILE, 'b/': DIR } }));
    expect([...(await parseIndex(body(v1)))]).toEqual([
      ['a.txt', FILE],
      ['b/', DIR],
    ]);
    const later = gzipSync(`{"version":3}\n["a.txt",{"future":true}]\n`);
    expect((await parseIndex(body(later))).size).toBe(0);
  });

  it('fails on bytes that are not a gzip index, rather than planning from them', async () => {
    await expect(parseIndex(body(Buffer.from('not gzip')))).rejects.toThrow();
    await expect(parseIndex(body(gzipSync('{"version":2}\n["a.txt","file",1,')))).rejects.toThrow(SyntaxError);
  });
});
