import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { baseName, displayPath, fsPath, joinRaw, parentRel, rawFromUser } from '../../src/common/raw-path.js';
import { tempDir } from '../helpers/tree.js';

/** The bytes fs receives for what fsPath returns: a string goes in as UTF-8, a Buffer as is. */
const bytesOf = (p: string | Buffer): Buffer => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p);

describe('raw paths', () => {
  it.each([
    { title: 'ASCII', bytes: Buffer.from('plain.txt') },
    { title: 'UTF-8', bytes: Buffer.from('naïve 日本.txt') },
    { title: 'invalid UTF-8', bytes: Buffer.from([0x66, 0xff, 0xfe, 0x80, 0x2e, 0x74]) },
    { title: 'every byte but NUL and slash', bytes: Buffer.from(Array.from({ length: 255 }, (_, i) => i + 1).filter((b) => b !== 0x2f)) },
  ])('round-trip $title bytes exactly', ({ bytes }) => {
    const raw = bytes.toString('latin1');
    expect(bytesOf(fsPath(raw)).equals(bytes)).toBe(true);
  });

  it('reads a non-UTF-8 name from disk and opens it again by its raw path', () => {
    const dir = tempDir();
    const name = Buffer.from([0x62, 0xe9, 0x74, 0x61, 0xff]);
    fs.writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), name]), 'content');
    const [raw] = fs.readdirSync(dir, { encoding: 'latin1' });
    expect(fs.readFileSync(fsPath(joinRaw(rawFromUser(dir), raw as string)), 'utf8')).toBe('content');
    expect(bytesOf(fsPath(raw as string)).equals(name)).toBe(true);
  });

  it('converts what the user typed to the bytes of its UTF-8 form', () => {
    expect(bytesOf(fsPath(rawFromUser('café'))).equals(Buffer.from('café', 'utf8'))).toBe(true);
    expect(displayPath(rawFromUser('/tmp/café/日本'))).toBe('/tmp/café/日本');
  });

  it('shows invalid UTF-8 with replacement characters', () => {
    expect(displayPath(Buffer.from([0x61, 0xff]).toString('latin1'))).toBe('a\uFFFD');
  });

  it.each([
    { rel: 'a/b/c', parent: 'a/b', base: 'c' },
    { rel: 'c', parent: '', base: 'c' },
    { rel: '', parent: '', base: '' },
  ])('splits $rel into "$parent" and "$base"', ({ rel, parent, base }) => {
    expect(parentRel(rel)).toBe(parent);
    expect(baseName(rel)).toBe(base);
  });

  it('joins a root with an empty relative path as the root itself', () => {
    expect(joinRaw('/r', '')).toBe('/r');
    expect(joinRaw('/r', 'a/b')).toBe(path.posix.join('/r', 'a/b'));
    expect(joinRaw('/', 'a')).toBe('/a');
    expect(joinRaw('', 'a/b')).toBe('a/b');
  });
});
