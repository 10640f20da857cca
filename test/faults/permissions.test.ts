/** Permission faults, as an unprivileged user (uid 65534 through setpriv): root would read anything. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { tempDir, writeTree } from '../helpers/tree.js';

const NOBODY = { uid: 65534, gid: 65534 };

/** A tree owned by nobody, so that only the modes set below stand in the way. */
function ownedByNobody(root: string): void {
  execFileSync('chown', ['-R', `${NOBODY.uid}:${NOBODY.gid}`, root]);
  fs.chmodSync(root, 0o755);
}

describe('permission faults', () => {
  it('copies everything else and names each unreadable source file and folder and unwritable dest folder with its code', async () => {
    const root = tempDir('backupd-perm-');
    const source = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    writeTree(source, {
      'ok.txt': 'fine',
      'locked.txt': 'secret',
      'closed/inside.txt': 'hidden',
      'ro/new.txt': 'cannot land',
      'deep/er/ok2.txt': 'fine too',
    });
    fs.mkdirSync(path.join(dest, 'ro'), { recursive: true });
    ownedByNobody(root);
    fs.chmodSync(path.join(source, 'locked.txt'), 0o000);
    fs.chmodSync(path.join(source, 'closed'), 0o000);
    fs.chmodSync(path.join(dest, 'ro'), 0o555);

    const result = await runCli([source, dest], { asUser: NOBODY });
    expect(result.code).toBe(1);
    const errors = result.stderr.split('\n').filter((line) => line.includes('error:'));
    expect(errors).toEqual(
      expect.arrayContaining([
        `backup: error: ${source}/locked.txt: permission denied (EACCES)`,
        `backup: error: ${source}/closed: permission denied (EACCES)`,
        // A dest-side failure names the dest path: the source file is fine.
        `backup: error: ${dest}/ro/new.txt: permission denied (EACCES)`,
      ]),
    );
    expect(errors).toHaveLength(3);
    expect(fs.readFileSync(path.join(dest, 'ok.txt'), 'utf8')).toBe('fine');
    expect(fs.readFileSync(path.join(dest, 'deep/er/ok2.txt'), 'utf8')).toBe('fine too');
    expect(fs.existsSync(path.join(dest, 'locked.txt'))).toBe(false);
    expect(fs.readdirSync(path.join(dest, 'ro'))).toEqual([]);
  });

  it('never deletes the backup of a source folder it could not read, even with --delete', async () => {
    const root = tempDir('backupd-perm-delete-');
    const source = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    writeTree(source, { 'closed/kept.txt': 'backed up while readable', 'gone.txt': 'removed later' });
    ownedByNobody(root);
    expect((await runCli([source, dest], { asUser: NOBODY })).code).toBe(0);
    fs.rmSync(path.join(source, 'gone.txt'));
    fs.chmodSync(path.join(source, 'closed'), 0o000);

    const result = await runCli([source, dest, '--delete'], { asUser: NOBODY });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`error: ${source}/closed: permission denied (EACCES)`);
    expect(result.stderr).toMatch(/deletes skipped/);
    // The folder looked empty only because it could not be listed: its backup stays.
    fs.chmodSync(path.join(dest, 'closed'), 0o755);
    expect(fs.readFileSync(path.join(dest, 'closed/kept.txt'), 'utf8')).toBe('backed up while readable');
  });
});
