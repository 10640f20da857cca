import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { removeTree } from '../../src/common/remove-tree.js';
import { snapshot, tempDir, writeTree } from '../helpers/tree.js';

describe('removeTree', () => {
  it('removes a deep tree with names that are not UTF-8, and leaves the working folder as it was', () => {
    const root = tempDir();
    const tree = path.join(root, 'tree');
    writeTree(tree, { 'a/b/c/d.txt': 'd', 'a/e.txt': 'e', 'f/': { dir: true }, 'g.txt': 'g' });
    const odd = Buffer.concat([Buffer.from(`${tree}/a/`), Buffer.from([0xff, 0xfe])]);
    fs.mkdirSync(odd);
    fs.writeFileSync(Buffer.concat([odd, Buffer.from([0x2f, 0x80])]), 'x');
    const cwd = process.cwd();
    removeTree(tree);
    expect(fs.existsSync(tree)).toBe(false);
    expect(process.cwd()).toBe(cwd);
  });

  it('never follows a symlink: what a link inside the tree points to is untouched', () => {
    const root = tempDir();
    writeTree(root, { 'outside/keep.txt': 'keep', 'tree/sub/file.txt': 'x', 'tree/link-dir': { symlink: '../outside' }, 'tree/sub/link-file': { symlink: '../../outside/keep.txt' } });
    const outside = snapshot(path.join(root, 'outside'));
    removeTree(path.join(root, 'tree'));
    expect(fs.existsSync(path.join(root, 'tree'))).toBe(false);
    expect(snapshot(path.join(root, 'outside'))).toEqual(outside);
  });

  it('removes a single file or symlink, and a missing path is fine', () => {
    const root = tempDir();
    writeTree(root, { 'file.txt': 'f', 'dir/x': 'x', link: { symlink: 'dir' } });
    removeTree(path.join(root, 'file.txt'));
    removeTree(path.join(root, 'link'));
    removeTree(path.join(root, 'missing'));
    expect(fs.readdirSync(root)).toEqual(['dir']);
    expect(fs.readdirSync(path.join(root, 'dir'))).toEqual(['x']);
  });
});
