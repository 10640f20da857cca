import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadResumeState, removeResumeState, saveResumeState, statePathFor, toRanges, type ResumeKey } from '../../src/assemble/resume-state.js';
import { tempDir } from '../helpers/tree.js';

const KEY: ResumeKey = { size: 10_000, blockSize: 1000, sample: 'abc' };

function partWith(size: number): string {
  const part = path.join(tempDir(), 'out.part');
  fs.writeFileSync(part, Buffer.alloc(size));
  return part;
}

describe('resume state', () => {
  it.each([
    { blocks: [], ranges: [] },
    { blocks: [0], ranges: [[0, 0]] },
    { blocks: [0, 1, 2, 5, 7, 8], ranges: [[0, 2], [5, 5], [7, 8]] },
  ])('stores blocks $blocks as ranges $ranges', ({ blocks, ranges }) => {
    expect(toRanges(blocks)).toEqual(ranges);
  });

  it('loads the done blocks it saved when everything matches', () => {
    const part = partWith(KEY.size);
    saveResumeState(part, KEY, [0, 1, 2, 9]);
    expect(loadResumeState(part, KEY)).toEqual({ kind: 'resume', done: [0, 1, 2, 9], validators: {} });
  });

  it.each([
    { change: 'size', key: { ...KEY, size: 20_000 }, partSize: 20_000, note: 'it is for a file of 10000 bytes, the sources have 20000' },
    { change: 'block size', key: { ...KEY, blockSize: 500 }, partSize: KEY.size, note: 'it is for blocks of 1000 bytes, not 500' },
    { change: 'content', key: { ...KEY, sample: 'other' }, partSize: KEY.size, note: 'the sources hold different content' },
    { change: '.part size', key: KEY, partSize: 5, note: 'the .part file has the wrong size' },
  ])('discards the state with a note when the $change differs', ({ key, partSize, note }) => {
    const part = partWith(partSize);
    saveResumeState(part, KEY, [0]);
    const loaded = loadResumeState(part, key);
    expect(loaded.kind).toBe('fresh');
    expect(loaded.kind === 'fresh' ? loaded.note : '').toContain(note);
  });

  it('starts fresh without a note when there is no state, and with one when it is not JSON', () => {
    const part = partWith(KEY.size);
    expect(loadResumeState(part, KEY)).toEqual({ kind: 'fresh' });
    fs.writeFileSync(statePathFor(part), '{');
    expect(loadResumeState(part, KEY)).toEqual({ kind: 'fresh', note: 'resume state discarded: unreadable; starting over' });
  });

  it('removes the state together with temporaries a killed save left beside it, and nothing else', () => {
    const part = partWith(KEY.size);
    const dir = path.dirname(part);
    saveResumeState(part, KEY, [0]);
    fs.writeFileSync(path.join(dir, '.out.part.state.0123abcd.backupd-tmp'), '{');
    fs.writeFileSync(path.join(dir, '.other.0123abcd.backupd-tmp'), '{');
    removeResumeState(part);
    expect(fs.readdirSync(dir).sort()).toEqual(['.other.0123abcd.backupd-tmp', 'out.part']);
  });
});
