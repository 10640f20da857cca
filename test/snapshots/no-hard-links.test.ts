/**
 * A dest without hard links is refused before anything is written. This kernel has no vfat or exfat
 * driver, so the real case is exfat through FUSE (exfat-fuse on a loop device): statfs says only "FUSE",
 * and the refusal comes from a link() tried on a temporary. The kernel drivers' statfs magics are unit-tested.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { filesystemWithoutHardLinks } from '../../src/snapshots/open-dest.js';
import { runCli } from '../helpers/cli.js';
import { tempDir, writeTree } from '../helpers/tree.js';

/** A fresh exfat filesystem mounted through FUSE for `use`; unmounted and detached after it. */
async function withExfat(root: string, use: (mnt: string) => Promise<void>): Promise<void> {
  const cleanups: (() => void)[] = [];
  const image = path.join(root, 'exfat.img');
  const mnt = path.join(root, 'mnt');
  fs.mkdirSync(mnt);
  fs.closeSync(fs.openSync(image, 'w'));
  fs.truncateSync(image, 64 * 2 ** 20);
  execFileSync('mkfs.exfat', [image], { stdio: 'ignore' });
  const device = execFileSync('losetup', ['-f', '--show', image], { encoding: 'utf8' }).trim();
  cleanups.push(() => execFileSync('losetup', ['-d', device]));
  try {
    execFileSync('mount.exfat-fuse', [device, mnt], { stdio: 'ignore' });
    cleanups.push(() => execFileSync('umount', [mnt]));
    await use(mnt);
  } finally {
    for (const cleanup of cleanups.reverse()) cleanup();
  }
}

describe('dest filesystems without hard links', () => {
  it('names vfat and exfat by their statfs magic, and nothing else', () => {
    expect(filesystemWithoutHardLinks(0x4d44)).toBe('vfat');
    expect(filesystemWithoutHardLinks(0x2011bab0)).toBe('exfat');
    expect(filesystemWithoutHardLinks(0xef53)).toBeUndefined(); // ext4
    expect(filesystemWithoutHardLinks(fs.statfsSync(tempDir()).type)).toBeUndefined();
  });

  it('refuses exfat (through FUSE) with exit 2 naming the type, and writes nothing there', async () => {
    const root = tempDir('backupd-exfat-');
    const src = path.join(root, 'src');
    writeTree(src, { 'a.txt': 'alpha' });
    await withExfat(root, async (mnt) => {
      for (const dest of [path.join(mnt, 'dest'), mnt]) {
        const result = await runCli([src, dest, '--snapshot']);
        expect(result.code, result.stderr).toBe(2);
        expect(result.stderr).toMatch(/is on a fuseblk filesystem, which has no hard links/);
        expect(result.stderr.trim().split('\n')).toHaveLength(1);
        expect(fs.readdirSync(mnt)).toEqual([]);
      }
    });
  });
});
