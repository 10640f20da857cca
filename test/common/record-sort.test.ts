import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RecordSorter } from '../../src/common/record-sort.js';
import { tempDir } from '../helpers/tree.js';

/** Deterministic pseudo-random keys with many repeats: ties must keep the order they were added in. */
function records(count: number): number[][] {
  let seed = 12345;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  return Array.from({ length: count }, (_, i) => [next() % 5000, i, -i]);
}

function sortedBy(all: number[][]): number[][] {
  return [...all].sort((a, b) => (a[0] as number) - (b[0] as number) || (a[1] as number) - (b[1] as number));
}

function drained(sorter: RecordSorter): number[][] {
  const out: number[][] = [];
  sorter.drain((record) => out.push([...record]));
  return out;
}

describe('RecordSorter', () => {
  it.each([
    { title: 'fewer records than a run (no spill)', count: 700, runRecords: 1000 },
    { title: 'exactly one full run', count: 1000, runRecords: 1000 },
    { title: 'many runs, and a last one partly full', count: 10_337, runRecords: 1000 },
    { title: 'runs larger than a read block', count: 9000, runRecords: 4096 },
  ])('gives every record in key order, ties in the order added: $title', ({ count, runRecords }) => {
    const folder = tempDir();
    const all = records(count);
    const sorter = new RecordSorter({ width: 3, tempFolder: folder, runRecords });
    for (const record of all) sorter.add(record);
    expect(sorter.count).toBe(count);
    expect(drained(sorter)).toEqual(sortedBy(all));
    // The spill was unlinked the moment it was made: nothing is left behind.
    expect(fs.readdirSync(folder)).toEqual([]);
  });

  it('sorts keys beyond 32 bits exactly (inode numbers up to 2^53)', () => {
    const sorter = new RecordSorter({ width: 1, tempFolder: tempDir(), runRecords: 2 });
    const keys = [2 ** 53 - 1, 2 ** 40 + 1, 2 ** 40, 3, 2 ** 32];
    for (const key of keys) sorter.add([key]);
    expect(drained(sorter).flat()).toEqual([...keys].sort((a, b) => a - b));
  });

  it('sorts nothing into nothing', () => {
    expect(drained(new RecordSorter({ width: 2, tempFolder: tempDir() }))).toEqual([]);
  });
});
