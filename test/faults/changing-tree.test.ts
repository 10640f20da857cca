/**
 * A tree that changes between the scan and the copy, made deterministic by running the engine in-process:
 * plan, mutate the source, then execute the plan made before the mutation.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { executeBackup, planBackup, type BackupJob } from '../../src/backup/backup.js';
import { CopyPool } from '../../src/copy/pool.js';
import { runCli } from '../helpers/cli.js';
import { snapshot, tempDir, writeTree } from '../helpers/tree.js';

const pool = new CopyPool(2);
afterAll(() => pool.destroy());

function jobFor(source: string, dest: string): BackupJob {
  return { source, dest, exclude: [], delete: false, compare: 'size-mtime', keepOwner: true, hardLinks: false, xattrs: true, oneFileSystem: false };
}

/** A dest file claims to be current through its size and mtime: both must describe the content it holds. */
function expectConsistentWithSource(source: string, dest: string, rel: string): void {
  const copy = fs.statSync(path.join(dest, rel));
  const original = fs.statSync(path.join(source, rel));
  expect(fs.readFileSync(path.join(dest, rel))).toEqual(fs.readFileSync(path.join(source, rel)));
  expect(copy.size).toBe(original.size);
  expect(Math.abs(copy.mtimeMs - original.mtimeMs)).toBeLessThan(1);
}

describe('a source that changes between the scan and the copy', () => {
  it('copies no stale or half state under a name that claims to be current, and reports each changed entry', async () => {
    const root = tempDir('backupd-changing-');
    const source = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    const old = new Date(2021, 5, 1);
    const spec = { content: 'original content\n', mtime: old };
    writeTree(source, {
      'appended.txt': spec,
      'truncated.txt': spec,
      'deleted.txt': spec,
      'became-folder': spec,
      'became-link': spec,
      'became-fifo': spec,
      'steady.txt': spec,
    });

    const planned = planBackup(jobFor(source, dest));
    fs.appendFileSync(path.join(source, 'appended.txt'), 'and a new line\n');
    fs.truncateSync(path.join(source, 'truncated.txt'), 4);
    fs.rmSync(path.join(source, 'deleted.txt'));
    fs.rmSync(path.join(source, 'became-folder'));
    writeTree(source, { 'became-folder/inner.txt': 'inner' });
    fs.rmSync(path.join(source, 'became-link'));
    fs.symlinkSync('/etc/hostname', path.join(source, 'became-link'));
    fs.rmSync(path.join(source, 'became-fifo'));
    execFileSync('mkfifo', [path.join(source, 'became-fifo')]); // opening it must not block the run
    const report = await executeBackup(planned, { pool, settings: { verify: false, keepOwner: true, xattrs: true } });

    expect(report.failures).toEqual([]);
    const reported = [...report.warnings, ...report.failures].map((w) => `${path.basename(w.path)} ${w.code}`).sort();
    expect(reported).toEqual([
      'appended.txt ECHANGED',
      'became-fifo ECHANGED',
      'became-folder ECHANGED',
      'became-link ECHANGED',
      'deleted.txt ENOENT',
      'truncated.txt ECHANGED',
    ]);
    expectConsistentWithSource(source, dest, 'appended.txt');
    expectConsistentWithSource(source, dest, 'truncated.txt');
    expectConsistentWithSource(source, dest, 'steady.txt');
    for (const gone of ['deleted.txt', 'became-folder', 'became-link', 'became-fifo']) expect(fs.existsSync(path.join(dest, gone))).toBe(false);

    // The next run picks up the new shapes (the FIFO goes first: FIFOs are never copied, only reported).
    fs.rmSync(path.join(source, 'became-fifo'));
    expect((await runCli([source, dest, '--quiet'])).code).toBe(0);
    expect(snapshot(dest)).toEqual(snapshot(source));
  });

  it('never renames a copy of a file that keeps changing while it is read; it is reported as failed', async () => {
    const root = tempDir('backupd-growing-');
    const source = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    writeTree(source, { 'log.txt': 'x'.repeat(64 << 20) });
    const planned = planBackup(jobFor(source, dest));
    // A writer that appends throughout the copy and its retry.
    const file = path.join(source, 'log.txt');
    let writing = true;
    const writer = (async () => {
      while (writing) {
        fs.appendFileSync(file, 'more\n');
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const report = await executeBackup(planned, { pool, settings: { verify: false, keepOwner: true, xattrs: true } });
    writing = false;
    await writer;
    expect(report.failures).toEqual([expect.objectContaining({ path: file, code: 'ECHANGED' })]);
    expect(fs.readdirSync(dest)).toEqual([]);
  });
});
