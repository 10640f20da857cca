import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { rawFromUser } from '../../src/common/raw-path.js';
import { IgnoreRules } from '../../src/plan/ignore.js';
import { walkTree } from '../../src/plan/walk.js';
import { tempDir, writeTree } from '../helpers/tree.js';

function tree(): string {
  const root = tempDir();
  writeTree(root, {
    'a/b/c.txt': 'c',
    'a/b/d/e.txt': 'e',
    'a/other.txt': 'o',
    'a-x/f.txt': 'f',
    'z.txt': 'z',
    'a/b/d/skip.log': 'log',
  });
  return rawFromUser(root);
}

describe('walkTree with only', () => {
  it('lists the given subtrees and the folders above them, nothing else, parents first', () => {
    const walked = walkTree(tree(), { only: ['a/b/d'] });
    expect([...walked.entries.keys()]).toEqual(['', 'a', 'a/b', 'a/b/d', 'a/b/d/e.txt', 'a/b/d/skip.log']);
  });

  it('merges paths that lie inside another given path', () => {
    const walked = walkTree(tree(), { only: ['a/b/d/e.txt', 'a-x', 'a/b', 'a/b/c.txt'] });
    expect([...walked.entries.keys()].sort()).toEqual(['', 'a', 'a-x', 'a-x/f.txt', 'a/b', 'a/b/c.txt', 'a/b/d', 'a/b/d/e.txt', 'a/b/d/skip.log']);
  });

  it('walks everything for the root path', () => {
    const root = tree();
    expect([...walkTree(root, { only: ['', 'a'] }).entries.keys()].sort()).toEqual([...walkTree(root).entries.keys()].sort());
  });

  it('gives only the existing folders above a path that is gone', () => {
    const walked = walkTree(tree(), { only: ['a/b/missing/deeper.txt', 'gone'] });
    expect([...walked.entries.keys()]).toEqual(['', 'a', 'a/b']);
  });

  it('applies the exclusion rules to the given paths and to what is below them', () => {
    const root = tree();
    expect([...walkTree(root, { only: ['a/b/d/skip.log', 'a/b/d/e.txt'], ignore: new IgnoreRules(['*.log']) }).entries.keys()]).toEqual([
      '',
      'a',
      'a/b',
      'a/b/d',
      'a/b/d/e.txt',
    ]);
    expect([...walkTree(root, { only: ['a/b/d'], ignore: new IgnoreRules(['b/']) }).entries.keys()]).toEqual(['', 'a']);
  });

  it('collects leftover temporaries found in the given subtrees', () => {
    const root = tempDir();
    writeTree(root, { 'a/.x.txt.0123abcd.backupd-tmp': 'partial', 'b/.y.0123abcd.backupd-tmp': 'other' });
    const walked = walkTree(rawFromUser(root), { only: ['a'], collectTemps: true });
    expect(walked.temps).toEqual([path.join('a', '.x.txt.0123abcd.backupd-tmp')]);
  });
});

describe('IgnoreRules', () => {
  it('replaces the rules of a .backupignore read again instead of adding to them', () => {
    const rules = new IgnoreRules();
    rules.addIgnoreFile('sub', '*.tmp\n');
    rules.addIgnoreFile('sub', '*.bak\n');
    expect(rules.isExcluded('sub/x.tmp', false)).toBe(false);
    expect(rules.isExcluded('sub/x.bak', false)).toBe(true);
  });
});
