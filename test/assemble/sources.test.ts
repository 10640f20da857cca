import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalSource } from '../../src/assemble/local-source.js';
import { selectSources as select, windowOffsets, type SourceSelection } from '../../src/assemble/sources.js';
import { UsageError } from '../../src/common/errors.js';
import { tempDir, writeTree } from '../helpers/tree.js';

const DATA = Buffer.alloc(300_000, 7).fill(1, 100_000, 200_000);

function mirrors(spec: Record<string, Buffer | undefined>): string[] {
  const root = tempDir();
  return Object.entries(spec).map(([dir, content]) => {
    fs.mkdirSync(path.join(root, dir));
    if (content !== undefined) writeTree(path.join(root, dir), { 'sub/f.bin': content });
    return path.join(root, dir);
  });
}

/** Local folders or copies as the CLI makes them. */
function selectSources(name: string, froms: readonly string[]): Promise<SourceSelection> {
  return select(name, froms.map((from) => ({ given: from, source: new LocalSource(from, name) })));
}

function labels(selection: SourceSelection): string[] {
  return selection.sources.map((s) => s.source.label);
}

function edited(at: number): Buffer {
  const copy = Buffer.from(DATA);
  copy[at] = 99;
  return copy;
}

describe('selectSources', () => {
  it('finds <name> in folders and takes a path to the file itself as a copy', async () => {
    const [a, b] = mirrors({ a: DATA, b: DATA });
    const selection = await selectSources('sub/f.bin', [a as string, path.join(b as string, 'sub/f.bin')]);
    expect(labels(selection)).toEqual([`${a}/sub/f.bin`, `${b}/sub/f.bin`]);
    expect(selection.size).toBe(DATA.length);
    expect(selection.skipped).toEqual([]);
  });

  it('leaves out a folder without the file and a copy of another size, naming both', async () => {
    const [a, b, c, d] = mirrors({ a: DATA, b: undefined, c: DATA.subarray(1), d: DATA });
    const selection = await selectSources('sub/f.bin', [a, b, c, d] as string[]);
    expect(labels(selection)).toEqual([`${a}/sub/f.bin`, `${d}/sub/f.bin`]);
    expect(selection.skipped).toEqual([
      { source: `${b}/sub/f.bin`, reason: 'does not exist' },
      { source: `${c}/sub/f.bin`, reason: `has ${DATA.length - 1} bytes, the others ${DATA.length}` },
    ]);
  });

  it('on a tie of sizes keeps the size of the first source', async () => {
    const [a, b] = mirrors({ a: DATA.subarray(10), b: DATA });
    expect((await selectSources('sub/f.bin', [a, b] as string[])).size).toBe(DATA.length - 10);
  });

  it.each([
    { where: 'the start', at: 0 },
    { where: 'the middle', at: windowOffsets(DATA.length)[2] as number },
    { where: 'the end', at: DATA.length - 1 },
  ])('leaves out a copy of the same size that differs at $where', async ({ at }) => {
    const [a, b, c] = mirrors({ a: DATA, b: edited(at), c: DATA });
    const selection = await selectSources('sub/f.bin', [a, b, c] as string[]);
    expect(selection.sources).toHaveLength(2);
    expect(selection.skipped).toEqual([{ source: `${b}/sub/f.bin`, reason: 'differs from the other copies in sampled regions' }]);
  });

  it('counts the same file given twice only once', async () => {
    const [a] = mirrors({ a: DATA });
    const selection = await selectSources('sub/f.bin', [a as string, `${a}/sub/f.bin`]);
    expect(selection.sources).toHaveLength(1);
    expect(selection.skipped[0]?.reason).toBe(`is the same file as ${a}/sub/f.bin`);
  });

  it('throws a UsageError naming the file when no source has it', async () => {
    const [a, b] = mirrors({ a: undefined, b: undefined });
    await expect(selectSources('sub/f.bin', [a, b] as string[])).rejects.toThrow(UsageError);
    await expect(selectSources('sub/f.bin', [a, b] as string[])).rejects.toThrow(/no source has sub\/f\.bin/);
  });

  it.each([
    { size: 0, offsets: [] },
    { size: 1000, offsets: [0] },
    { size: 65536 * 5, offsets: [0, 65536, 131072, 196608, 262144] },
  ])('samples $size bytes at $offsets', ({ size, offsets }) => {
    expect(windowOffsets(size)).toEqual(offsets);
  });
});
