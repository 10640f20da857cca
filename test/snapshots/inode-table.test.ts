import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { InodeCursor, inodesFile, InodeTableWriter } from '../../src/snapshots/inode-table.js';
import { readInodes } from './inode-pairs.js';
import { ManifestWriter, type ManifestEntry } from '../../src/snapshots/manifest.js';
import { tempDir } from '../helpers/tree.js';

/** 150,000 distinct inodes (three blocks of the table), some beyond 32 bits, with sizes. */
function pairs(count: number, step = 3): [number, number][] {
  return Array.from({ length: count }, (_, i) => [2 ** 33 + i * step, (i * 7919) % 100_000]);
}

function writeTable(root: string, name: string, all: readonly [number, number][]): void {
  const file = inodesFile(root, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, 'wx');
  const writer = new InodeTableWriter(fd);
  for (const [ino, size] of all) writer.add(ino, size);
  writer.finish();
  fs.closeSync(fd);
}

/** A table as the first snapshots wrote it: one gzip stream of [all inode deltas…, all sizes…]. */
function writeFormat1(root: string, name: string, all: readonly [number, number][]): void {
  const columns = new Float64Array(2 * all.length);
  let previous = 0;
  all.forEach(([ino, size], i) => {
    columns[i] = ino - previous;
    columns[all.length + i] = size;
    previous = ino;
  });
  const file = inodesFile(root, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, zlib.gzipSync(columns));
}

function fileEntry(rel: string, ino: number, size: number): ManifestEntry {
  return { rel, kind: 'file', size, mtimeMs: 0, mode: 0o100644, uid: 0, gid: 0, ino, srcDev: 0, srcIno: 0 };
}

describe('inode tables', () => {
  it.each([
    { title: 'format 2, several blocks', write: writeTable },
    { title: 'format 1, of the first snapshots', write: writeFormat1 },
  ])('read whole and walked by a cursor: $title', ({ write }) => {
    const root = tempDir('backupd-inodes-');
    const all = pairs(150_000);
    write(root, 's', all);
    expect([...(readInodes(root, 's') as Float64Array)]).toEqual(all.flat());
    const cursor = InodeCursor.open(inodesFile(root, 's')) as InodeCursor;
    // Ascending questions, hits and misses, across block boundaries, and past the end.
    const asked = [[2 ** 33 - 1, false], [2 ** 33, true], [2 ** 33 + 1, false], [2 ** 33 + 3 * 65_535, true], [2 ** 33 + 3 * 65_536, true], [2 ** 33 + 3 * 65_536 + 2, false], [2 ** 33 + 3 * 149_999, true], [2 ** 34, false]] as const;
    expect(asked.map(([ino]) => cursor.holds(ino))).toEqual(asked.map(([, held]) => held));
    cursor.close();
  });

  it('has no table and no cursor for a snapshot without one', () => {
    const root = tempDir('backupd-inodes-');
    expect(readInodes(root, 'none')).toBeUndefined();
    expect(InodeCursor.open(inodesFile(root, 'none'))).toBeUndefined();
  });

  it('refuses pairs out of order: a table that is not sorted would answer wrong', () => {
    const root = tempDir('backupd-inodes-');
    fs.mkdirSync(path.join(root, 'x'));
    const fd = fs.openSync(path.join(root, 'x/t'), 'wx');
    const writer = new InodeTableWriter(fd);
    writer.add(5, 1);
    expect(() => writer.add(5, 1)).toThrow(/5 after 5/);
    fs.closeSync(fd);
  });

  it('a manifest of more files than a sort run counts the files shared with the previous snapshot, hard links included, and leaves no temporary', () => {
    const root = tempDir('backupd-inodes-');
    const previous = pairs(100_000, 2);
    writeTable(root, 'before', previous);
    const writer = new ManifestWriter(root, 'after', new Date());
    let expectedLinked = 0;
    let expectedNew = 0;
    // Inodes in no order, as a walk finds them: every odd one is new, every even one the previous snapshot's.
    for (let i = 150_000; i > 0; i--) {
      const ino = 2 ** 33 + i;
      const size = i % 1000;
      writer.add(fileEntry(`f${i}`, ino, size));
      if (i % 2 === 0 && i / 2 < 100_000) expectedLinked++;
      else expectedNew += size;
    }
    // A hard link to a shared file: it counts as a file, its inode once in the table.
    writer.add(fileEntry('hard', 2 ** 33 + 2, 2));
    expectedLinked++;
    const { stats, shared } = writer.finish(false, 'before');
    expect(stats.files).toBe(150_001);
    expect(shared).toEqual({ linked: expectedLinked, bytesNew: expectedNew });
    const table = readInodes(root, 'after') as Float64Array;
    expect(table.length).toBe(2 * 150_000);
    expect(table[0]).toBe(2 ** 33 + 1);
    expect(table.at(-2)).toBe(2 ** 33 + 150_000);
    expect(fs.readdirSync(path.join(root, '.backupd/manifests')).sort()).toEqual(['after.inodes', 'after.json.gz', 'after.stats', 'before.inodes']);
  });
});
