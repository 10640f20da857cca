import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyBlock } from '../../src/assemble/copy-block.js';
import type { BlockJob } from '../../src/assemble/types.js';
import { ProgressReporter } from '../../src/progress/events.js';
import { tempDir } from '../helpers/tree.js';

const SIZE = 3 * 1024 * 1024 + 123;

function setup(): { dir: string; data: Buffer; job: (offset: number, length: number) => BlockJob } {
  const dir = tempDir();
  const data = randomBytes(SIZE);
  fs.writeFileSync(path.join(dir, 'src'), data);
  fs.writeFileSync(path.join(dir, 'out.part'), Buffer.alloc(0));
  fs.truncateSync(path.join(dir, 'out.part'), SIZE);
  const { mtimeMs } = fs.statSync(path.join(dir, 'src'));
  const job = (offset: number, length: number): BlockJob => ({
    source: path.join(dir, 'src'),
    sourceVersion: { size: SIZE, mtimeMs },
    part: path.join(dir, 'out.part'),
    offset,
    length,
    hash: undefined,
  });
  return { dir, data, job };
}

const progress = new ProgressReporter(undefined);

describe('copyBlock', () => {
  it.each([
    { offset: 0, length: 1024 },
    { offset: 1024 * 1024 - 7, length: 2 * 1024 * 1024 + 14 },
    { offset: SIZE - 123, length: 123 },
  ])('copies $length bytes at offset $offset to the same offset and nothing else', ({ offset, length }) => {
    const { dir, data, job } = setup();
    expect(copyBlock(job(offset, length), progress)).toEqual({ status: 'done', bytesRead: length, sha256: '' });
    const out = fs.readFileSync(path.join(dir, 'out.part'));
    expect(out.subarray(offset, offset + length).equals(data.subarray(offset, offset + length))).toBe(true);
    expect(out.subarray(0, offset).every((b) => b === 0)).toBe(true);
    expect(out.subarray(offset + length).every((b) => b === 0)).toBe(true);
  });

  it('copies a block beyond 4 GiB to the same offset (sparse files, so nothing big is written)', () => {
    const dir = tempDir();
    const size = 2 ** 32 + 3 * 1024 * 1024;
    const offset = 2 ** 32 + 1024 * 1024;
    const data = randomBytes(1024 * 1024);
    for (const name of ['src', 'out.part']) {
      fs.writeFileSync(path.join(dir, name), '');
      fs.truncateSync(path.join(dir, name), size);
    }
    const fd = fs.openSync(path.join(dir, 'src'), 'r+');
    fs.writeSync(fd, data, 0, data.length, offset);
    fs.closeSync(fd);
    const job = { source: path.join(dir, 'src'), sourceVersion: { size, mtimeMs: fs.statSync(path.join(dir, 'src')).mtimeMs }, part: path.join(dir, 'out.part'), offset, length: data.length, hash: 'sha256' as const };
    expect(copyBlock(job, progress)).toEqual({ status: 'done', bytesRead: data.length, sha256: createHash('sha256').update(data).digest('hex') });
    const back = Buffer.alloc(data.length);
    const out = fs.openSync(path.join(dir, 'out.part'), 'r');
    fs.readSync(out, back, 0, back.length, offset);
    fs.closeSync(out);
    expect(back.equals(data)).toBe(true);
  });

  it('blames the source when it has disappeared', () => {
    const { dir, job } = setup();
    fs.rmSync(path.join(dir, 'src'));
    expect(copyBlock(job(0, 10), progress)).toMatchObject({ status: 'failed', side: 'source', code: 'ENOENT', bytesRead: 0 });
  });

  it('blames the source when it was truncated since the start', () => {
    const { dir, job } = setup();
    fs.truncateSync(path.join(dir, 'src'), 1000);
    expect(copyBlock(job(0, 10), progress)).toMatchObject({ status: 'failed', side: 'source', code: 'ECHANGED' });
  });

  it('blames the source when it was written to in place since the start, at the same size', () => {
    const { dir, job } = setup();
    const later = new Date(Date.now() + 5000);
    fs.utimesSync(path.join(dir, 'src'), later, later);
    expect(copyBlock(job(0, 10), progress)).toMatchObject({ status: 'failed', side: 'source', code: 'ECHANGED', message: 'changed since the start: now modified' });
  });

  it('does not trust a block whose source was truncated while it was read', () => {
    const { dir, job } = setup();
    // Called after the first chunk: the rest of the block is read from a file that is no longer the same.
    const truncating = new (class extends ProgressReporter {
      override add(bytes: number): void {
        fs.truncateSync(path.join(dir, 'src'), SIZE - 1);
        super.add(bytes);
      }
    })(undefined);
    expect(copyBlock(job(0, 2 * 1024 * 1024), truncating)).toMatchObject({ status: 'failed', side: 'source', code: 'ECHANGED', message: `changed since the start: now ${SIZE - 1} bytes` });
  });

  it('does not read through a symlink swapped in for the source', () => {
    const { dir, job } = setup();
    fs.renameSync(path.join(dir, 'src'), path.join(dir, 'real'));
    fs.symlinkSync(path.join(dir, 'real'), path.join(dir, 'src'));
    expect(copyBlock(job(0, 10), progress)).toMatchObject({ status: 'failed', side: 'source', code: 'ELOOP' });
  });

  it('blames the output when the .part is gone', () => {
    const { dir, job } = setup();
    fs.rmSync(path.join(dir, 'out.part'));
    expect(copyBlock(job(0, 10), progress)).toMatchObject({ status: 'failed', side: 'output', code: 'ENOENT' });
  });
});
