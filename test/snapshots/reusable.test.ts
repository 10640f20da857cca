import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { statsOf, writeManifest, type ManifestEntry } from '../../src/snapshots/manifest.js';
import { IndexSpillError, ReusableIndex } from '../../src/snapshots/reusable.js';
import { mountTmpfs } from '../faults/support.js';
import { tempDir } from '../helpers/tree.js';
import { file } from '../plan/trees.js';

const T = 1_700_000_000_000;

function entry(rel: string, srcIno: number, size: number): ManifestEntry {
  return { rel, kind: 'file', size, mtimeMs: T + srcIno, mode: 0o100644, uid: 1000, gid: 1000, ino: 10 + srcIno, srcDev: 7, srcIno };
}

function source(srcIno: number, size: number) {
  return file('now/elsewhere', { ino: srcIno, dev: 7, size, mtimeMs: T + srcIno, mode: 0o100644, uid: 1000, gid: 1000 });
}

describe('the moved-file index on disk', () => {
  it('finds every file of a tree spilled over many sort runs and blocks, a source inode held by many paths included', () => {
    const folder = tempDir();
    const entries: ManifestEntry[] = [];
    // Added in descending inode order, as no walk sorts them; long paths make the path file span buffers.
    for (let i = 5000; i > 0; i--) entries.push(entry(`deep/${'p'.repeat(i % 300)}/f${i}`, 2 ** 40 + 2 * i, i));
    // One source inode (hard links in the source) at 200 paths, spanning block boundaries: only the one
    // whose size matches is the same content.
    for (let k = 0; k < 200; k++) entries.push(entry(`links/l${k}`, 2 ** 40 + 3001, k));
    const index = ReusableIndex.of(entries, { keepOwner: true, tempFolder: folder, runRecords: 97, bufferBytes: 10_000 });
    for (let i = 1; i <= 5000; i++) expect(index.find(source(2 ** 40 + 2 * i, i))).toBe(`deep/${'p'.repeat(i % 300)}/f${i}`);
    expect(index.find(source(2 ** 40 + 3001, 199))).toBe('links/l199');
    expect(index.find(source(2 ** 40 + 3001, 0))).toBe('links/l0');
    // Missing inodes: before all, between two, after all; and a known inode with another size.
    for (const ino of [1, 2 ** 40 + 3, 2 ** 41]) expect(index.find(source(ino, 1))).toBeUndefined();
    expect(index.find(source(2 ** 40 + 20, 11))).toBeUndefined();
    // Its temporaries were unlinked as they were made.
    expect(fs.readdirSync(folder)).toEqual([]);
    index.close();
    expect(index.find(source(2 ** 40 + 2, 1))).toBeUndefined();
  });

  it('a dest too full for its temporaries is an IndexSpillError with the write\'s code, not a manifest that cannot be read', async () => {
    const root = path.join(tempDir(), 'dest');
    mountTmpfs(root, '4m');
    const entries = Array.from({ length: 70_000 }, (_, i) => entry(`f${i}`, i + 1, 1));
    writeManifest(root, { ...statsOf('2026-01-01T000000Z', new Date(T), entries, false), entries });
    const filler = fs.openSync(path.join(root, 'filler'), 'w');
    try {
      for (;;) fs.writeSync(filler, Buffer.alloc(64 * 1024));
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
    } finally {
      fs.closeSync(filler);
    }
    const failed = await ReusableIndex.load(root, '2026-01-01T000000Z', true).catch((err: unknown) => err);
    expect(failed).toBeInstanceOf(IndexSpillError);
    expect(failed).toMatchObject({ code: 'ENOSPC' });
  });

  it('makes no temporary for a small tree', () => {
    const folder = tempDir();
    const index = ReusableIndex.of([entry('a', 5, 1), entry('b', 6, 2)], { keepOwner: true, tempFolder: folder });
    expect(index.find(source(6, 2))).toBe('b');
    index.close();
  });

  it('holds nothing for a snapshot with no source identities', () => {
    const index = ReusableIndex.of([{ ...entry('a', 0, 1), srcIno: 0 }], { keepOwner: false, tempFolder: tempDir() });
    expect(index.find(source(0, 1))).toBeUndefined();
    index.close();
  });
});
