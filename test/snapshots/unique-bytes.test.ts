import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { snapshotInfos } from '../../src/snapshots/history.js';
import { inodesFile, InodeTableWriter } from '../../src/snapshots/inode-table.js';
import { tempDir } from '../helpers/tree.js';

/** A snapshot dest of stats and inode tables only (no trees): enough for the listing. */
function destWith(tables: readonly (readonly [number, number][] | 'same as before')[]): string {
  const root = tempDir('backupd-unique-');
  fs.mkdirSync(path.join(root, '.backupd/manifests'), { recursive: true });
  fs.writeFileSync(path.join(root, '.backupd/format'), JSON.stringify({ format: 1 }));
  let last = '';
  tables.forEach((pairs, s) => {
    const time = new Date(Date.UTC(2026, 0, 1, s));
    const name = `${time.toISOString().slice(0, 19).replace(/:/g, '')}Z`;
    fs.mkdirSync(path.join(root, 'snapshots', name), { recursive: true });
    fs.writeFileSync(path.join(root, '.backupd/manifests', `${name}.stats`), JSON.stringify({ name, time: time.toISOString(), files: 1, bytes: 1, failed: false }));
    if (pairs === 'same as before') fs.linkSync(inodesFile(root, last), inodesFile(root, name));
    else {
      const fd = fs.openSync(inodesFile(root, name), 'wx');
      const writer = new InodeTableWriter(fd);
      for (const [ino, size] of pairs) writer.add(ino, size);
      writer.finish();
      fs.closeSync(fd);
    }
    last = name;
  });
  return root;
}

/** The same answer the slow way: an inode's size counts for a table when neither neighbour has it. */
function bruteForce(tables: readonly (readonly [number, number][])[]): number[] {
  const sets = tables.map((pairs) => new Set(pairs.map(([ino]) => ino)));
  return tables.map((pairs, i) => pairs.reduce((sum, [ino, size]) => (sets[i - 1]?.has(ino) === true || sets[i + 1]?.has(ino) === true ? sum : sum + size), 0));
}

describe('bytes unique to each snapshot', () => {
  it('match a brute-force count over tables of several blocks each, a shared (linked) table in the chain included', () => {
    const range = (from: number, count: number, size: (ino: number) => number): [number, number][] => Array.from({ length: count }, (_, i) => [from + i * 3, size(from + i * 3)]);
    const t0 = range(1000, 150_000, (ino) => ino % 97);
    // Overlaps t0 by half, shifted by a block and a bit; then a table shared by two snapshots; then one overlapping both ends.
    const t1 = range(1000 + 3 * 75_000, 150_000, (ino) => ino % 89);
    const t3 = [...range(1000 + 3 * 140_000, 20_000, (ino) => ino % 7), ...range(10_000_000, 70_000, () => 5)];
    const t4 = range(9_000_000, 100, () => 1);
    const dest = destWith([t0, t1, 'same as before', t3, t4]);
    const expected = bruteForce([t0, t1, t1, t3, t4]);
    expect(expected[0]).toBeGreaterThan(0);
    expect(expected[1]).toBe(0);
    expect(snapshotInfos(dest).map((s) => s.uniqueBytes)).toEqual(expected);
  });
});
