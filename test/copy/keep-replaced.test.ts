/** The executor's keepReplaced option: every dest file replaced or removed is linked aside first. */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { executeBackup, planBackup, type BackupJob } from '../../src/backup/backup.js';
import { CopyPool } from '../../src/copy/pool.js';
import { tempDir, writeTree } from '../helpers/tree.js';

const pool = new CopyPool(2);
afterAll(() => pool.destroy());

describe('executePlan with keepReplaced', () => {
  it('links replaced files, removed files, files of removed folders and files replaced by symlinks before touching them', async () => {
    const root = tempDir('backupd-keep-');
    const source = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    const kept = path.join(root, 'kept');
    fs.mkdirSync(kept);
    writeTree(dest, { 'changed.txt': 'old content', 'gone.txt': 'deleted', 'folder/a': 'a', 'folder/deep/b': 'b', 'becomes-link': 'file', 'same.txt': 'same' });
    writeTree(source, { 'changed.txt': 'new content!', 'becomes-link': { symlink: 'same.txt' }, 'same.txt': 'same' });
    fs.utimesSync(path.join(source, 'same.txt'), fs.statSync(path.join(dest, 'same.txt')).atime, fs.statSync(path.join(dest, 'same.txt')).mtime);
    const inodes = Object.fromEntries(['changed.txt', 'gone.txt', 'folder/a', 'folder/deep/b', 'becomes-link'].map((rel) => [rel, fs.statSync(path.join(dest, rel)).ino]));

    const job: BackupJob = { source, dest, exclude: [], delete: true, compare: 'size-mtime', keepOwner: false, hardLinks: false, xattrs: false, oneFileSystem: false };
    const report = await executeBackup(planBackup(job), {
      pool,
      settings: { verify: false, keepOwner: false, xattrs: false },
      keepReplaced: { root: kept, relFor: (rel) => `${rel}~v` },
    });
    expect(report.failures).toEqual([]);
    for (const [rel, ino] of Object.entries(inodes)) expect(fs.statSync(path.join(kept, `${rel}~v`)).ino, rel).toBe(ino);
    expect(fs.readFileSync(path.join(kept, 'changed.txt~v'), 'utf8')).toBe('old content');
    expect(fs.existsSync(path.join(kept, 'same.txt~v'))).toBe(false);
    expect(fs.readFileSync(path.join(dest, 'changed.txt'), 'utf8')).toBe('new content!');
    expect(fs.existsSync(path.join(dest, 'folder'))).toBe(false);
  });

  it('leaves a file alone, as a failure, when its version cannot be kept', async () => {
    const root = tempDir('backupd-keep-');
    const source = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    writeTree(dest, { 'changed.txt': 'old content' });
    writeTree(source, { 'changed.txt': 'new content!' });
    // A file where the versions folder should be: mkdir fails.
    fs.writeFileSync(path.join(root, 'kept'), 'in the way');
    const job: BackupJob = { source, dest, exclude: [], delete: false, compare: 'size-mtime', keepOwner: false, hardLinks: false, xattrs: false, oneFileSystem: false };
    const report = await executeBackup(planBackup(job), { pool, settings: { verify: false, keepOwner: false, xattrs: false }, keepReplaced: { root: path.join(root, 'kept'), relFor: (rel) => `${rel}~v` } });
    expect(report.failures).toEqual([expect.objectContaining({ path: path.join(dest, 'changed.txt'), message: expect.stringContaining('not replaced: its version could not be kept') })]);
    expect(fs.readFileSync(path.join(dest, 'changed.txt'), 'utf8')).toBe('old content');
  });

  it('never places a version through a folder of versions/ swapped for a symlink: the file stays, as a failure', async () => {
    const root = fs.realpathSync(tempDir('backupd-keep-'));
    const source = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    const kept = path.join(root, 'kept');
    const outside = path.join(root, 'outside');
    writeTree(dest, { 'docs/changed.txt': 'old content' });
    writeTree(source, { 'docs/changed.txt': 'new content!' });
    fs.mkdirSync(kept);
    fs.mkdirSync(outside);
    fs.symlinkSync(outside, path.join(kept, 'docs'));
    const job: BackupJob = { source, dest, exclude: [], delete: false, compare: 'size-mtime', keepOwner: false, hardLinks: false, xattrs: false, oneFileSystem: false };
    const report = await executeBackup(planBackup(job), { pool, settings: { verify: false, keepOwner: false, xattrs: false }, keepReplaced: { root: kept, relFor: (rel) => `${rel}~v` } });
    expect(report.failures).toEqual([expect.objectContaining({ path: path.join(dest, 'docs/changed.txt'), code: 'EOUTSIDE' })]);
    expect(fs.readdirSync(outside)).toEqual([]);
    expect(fs.readFileSync(path.join(dest, 'docs/changed.txt'), 'utf8')).toBe('old content');
  });
});
