import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { assembleFile, prepareAssembly, type AssemblySpec } from '../../src/assemble/assemble.js';
import { LocalSource } from '../../src/assemble/local-source.js';
import type { SelectedSource } from '../../src/assemble/sources.js';
import { tempDir } from '../helpers/tree.js';

const SIZE = 2 * 1024 * 1024 + 5;

/** A local source opened as selection would; `size` is what it had then (a broken one is truncated after). */
async function opened(file: string, size: number): Promise<SelectedSource> {
  const source = new LocalSource(file, '');
  const info = await source.open();
  return { source, given: file, info: { ...info, size } };
}

/** Sources as selection would return them; `broken` ones are truncated afterwards, as if it happened mid-run. */
async function spec(broken: readonly boolean[]): Promise<{ spec: AssemblySpec; dir: string; data: Buffer }> {
  const dir = tempDir();
  const data = randomBytes(SIZE);
  const sources = await Promise.all(
    broken.map(async (isBroken, i) => {
      const file = path.join(dir, `src${i}`);
      fs.writeFileSync(file, data);
      const source = await opened(file, SIZE);
      if (isBroken) fs.truncateSync(file, 1000);
      return source;
    }),
  );
  return { spec: { sources, size: SIZE, sample: 'test', output: path.join(dir, 'out.bin'), blockSize: 128 * 1024 }, dir, data };
}

describe('assembleFile', () => {
  it('drops a source that turned bad after selection, finishes from the others and notes the drop', async () => {
    const { spec: s, data } = await spec([false, true, false]);
    const notes: string[] = [];
    const report = await assembleFile(prepareAssembly(s), { threads: 2, onNote: (n) => notes.push(n) });
    expect(report.outcome.status).toBe('done');
    expect(fs.readFileSync(s.output).equals(data)).toBe(true);
    expect(report.sources[1]).toMatchObject({ blocks: 0, dropped: true, failed: expect.any(Number) as number });
    expect(report.sources[0]?.blocks).toBeGreaterThan(0);
    expect(notes.join('\n')).toContain(`source ${s.sources[1]?.source.label} dropped`);
  });

  it('when no source can provide the blocks, reports them and keeps the .part and its state', async () => {
    const { spec: s, dir } = await spec([true]);
    const report = await assembleFile(prepareAssembly(s), { threads: 1 });
    expect(report.outcome).toMatchObject({ status: 'incomplete', failure: { code: 'ENOSOURCE', path: `${s.output}.part` } });
    expect(fs.readdirSync(dir).sort()).toEqual(['out.bin.part', 'out.bin.part.state', 'src0']);
  });

  it('assembles an empty file', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'src'), '');
    const output = path.join(dir, 'out');
    const prepared = prepareAssembly({ sources: [await opened(path.join(dir, 'src'), 0)], size: 0, sample: '', output, blockSize: 4096 });
    const report = await assembleFile(prepared, { threads: 1 });
    expect(report.outcome.status).toBe('done');
    expect(fs.readdirSync(dir).sort()).toEqual(['out', 'src']);
  });
});
