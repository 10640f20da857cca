/** Symlinks planted in dest, and source symlinks that point outside the source: nothing is read or written through them. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { executeBackup, planBackup } from '../../src/backup/backup.js';
import { CopyPool } from '../../src/copy/pool.js';
import { runCli } from '../helpers/cli.js';
import { snapshot, tempDir, writeTree } from '../helpers/tree.js';

const pool = new CopyPool(2);
afterAll(() => pool.destroy());

function setUp(): { source: string; dest: string; outside: string } {
  const root = tempDir('backupd-attack-');
  const source = path.join(root, 'src');
  const dest = path.join(root, 'dest');
  const outside = path.join(root, 'outside');
  writeTree(source, { 'file.txt': 'mine', 'sub/inner.txt': 'inner', 'sub/deeper/more.txt': 'more' });
  fs.mkdirSync(dest);
  fs.mkdirSync(outside);
  return { source, dest, outside };
}

describe('dest attacks', () => {
  it('replaces symlinks planted in dest where a file and a folder go, writing nothing outside dest', async () => {
    const { source, dest, outside } = setUp();
    fs.symlinkSync(outside, path.join(dest, 'sub'));
    fs.symlinkSync(path.join(outside, 'file.txt'), path.join(dest, 'file.txt'));
    fs.symlinkSync(outside, path.join(dest, 'stale-link'));

    const result = await runCli([source, dest, '--delete']);
    expect(result.code).toBe(0);
    expect(fs.readdirSync(outside)).toEqual([]);
    expect(snapshot(dest)).toEqual(snapshot(source));
  });

  it('deletes a planted link with --delete, never what it points to', async () => {
    const { source, dest, outside } = setUp();
    writeTree(outside, { 'precious.txt': 'not yours' });
    fs.symlinkSync(outside, path.join(dest, 'stale-link'));
    expect((await runCli([source, dest, '--delete'])).code).toBe(0);
    expect(fs.existsSync(path.join(dest, 'stale-link'))).toBe(false);
    expect(fs.readFileSync(path.join(outside, 'precious.txt'), 'utf8')).toBe('not yours');
  });

  it('writes nothing outside dest when a dest folder is swapped for a symlink between the scan and the copy', async () => {
    const { source, dest, outside } = setUp();
    fs.mkdirSync(path.join(dest, 'sub'));
    const planned = planBackup({ source, dest, exclude: [], delete: false, compare: 'size-mtime', keepOwner: true, hardLinks: false, xattrs: true, oneFileSystem: false });
    fs.rmdirSync(path.join(dest, 'sub'));
    fs.symlinkSync(outside, path.join(dest, 'sub'));

    const report = await executeBackup(planned, { pool, settings: { verify: false, keepOwner: true, xattrs: true } });
    expect(fs.readdirSync(outside)).toEqual([]);
    // The copies below the swapped folder fail, each named; the rest is copied.
    expect(report.failures.map((f) => f.path)).toEqual(expect.arrayContaining([path.join(dest, 'sub/inner.txt')]));
    expect(fs.readFileSync(path.join(dest, 'file.txt'), 'utf8')).toBe('mine');
  });

  it('copies a source symlink that points outside the source as a link and never reads through it', async () => {
    const { source, dest, outside } = setUp();
    // A FIFO: opening it would block the run forever; reading through the link would show as a hang.
    execFileSync('mkfifo', [path.join(outside, 'pipe')]);
    writeTree(outside, { 'secret.txt': 'outside the source' });
    fs.symlinkSync(path.join(outside, 'pipe'), path.join(source, 'to-pipe'));
    fs.symlinkSync('../outside/secret.txt', path.join(source, 'to-secret'));
    fs.symlinkSync(outside, path.join(source, 'to-folder'));

    const result = await runCli([source, dest], { timeoutMs: 20_000 });
    expect(result.code).toBe(0);
    expect(fs.readlinkSync(path.join(dest, 'to-pipe'))).toBe(path.join(outside, 'pipe'));
    expect(fs.readlinkSync(path.join(dest, 'to-secret'))).toBe('../outside/secret.txt');
    expect(fs.lstatSync(path.join(dest, 'to-folder')).isSymbolicLink()).toBe(true);
    expect(snapshot(dest)).toEqual(snapshot(source));
  });
});
