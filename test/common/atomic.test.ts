import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isTempName, tempRelFor, writeFileAtomic } from '../../src/common/atomic.js';
import { rawFromUser } from '../../src/common/raw-path.js';
import { tempDir } from '../helpers/tree.js';

const bytes = (raw: string) => Buffer.byteLength(raw, 'latin1');

describe('tempRelFor', () => {
  it.each([
    { title: 'a short name', rel: 'dir/file.txt' },
    { title: 'a 255-byte ASCII name', rel: `d/${'a'.repeat(255)}` },
    { title: 'a 255-byte name of multi-byte characters', rel: rawFromUser(`d/${'é'.repeat(127)}x`) },
    { title: 'a name at the root', rel: 'x' },
  ])('gives a temporary name within 255 bytes, in the same folder, for $title', ({ rel }) => {
    const temp = tempRelFor(rel);
    const name = temp.slice(temp.lastIndexOf('/') + 1);
    expect(bytes(name)).toBeLessThanOrEqual(255);
    expect(temp.slice(0, temp.lastIndexOf('/') + 1)).toBe(rel.slice(0, rel.lastIndexOf('/') + 1));
    expect(isTempName(name)).toBe(true);
  });

  it('gives a different name each time, so two runs never share a temporary', () => {
    expect(tempRelFor('a/b')).not.toBe(tempRelFor('a/b'));
  });

  it('can create a file at the temporary name of a 255-byte name', () => {
    const dir = tempDir();
    const temp = tempRelFor(`${dir}/${'n'.repeat(255)}`);
    fs.writeFileSync(temp, 'x');
    expect(fs.readFileSync(temp, 'utf8')).toBe('x');
  });
});

describe('isTempName', () => {
  it.each([
    { name: '.file.0123abcd.backupd-tmp', temp: true },
    { name: '..0123abcd.backupd-tmp', temp: true },
    { name: '.with\nnewline.89abcdef.backupd-tmp', temp: true },
    { name: 'file.0123abcd.backupd-tmp', temp: false },
    { name: '.file.0123ABCD.backupd-tmp', temp: false },
    { name: '.file.0123abc.backupd-tmp', temp: false },
    { name: '.file.0123abcd.backupd-tmp.txt', temp: false },
    { name: '.file.backupd-tmp', temp: false },
    { name: 'report.txt', temp: false },
  ])('says $temp for $name', ({ name, temp }) => {
    expect(isTempName(name)).toBe(temp);
  });
});

describe('writeFileAtomic', () => {
  it('replaces the file and leaves no temporary', () => {
    const dir = tempDir();
    const file = path.join(dir, 'state.json');
    fs.writeFileSync(file, 'old');
    writeFileAtomic(file, 'new');
    expect(fs.readFileSync(file, 'utf8')).toBe('new');
    expect(fs.readdirSync(dir)).toEqual(['state.json']);
  });
});
