/**
 * Full fidelity against a real oracle: the same tree backed up by backupd and by `rsync -aHAXS` must list
 * the same metadata (getfattr, getfacl, stat). Needs root (setcap, trusted.*, mount), as CI runs.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { backupJson } from '../helpers/backup.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tree.js';

const NOBODY = { uid: 65534, gid: 65534 };
const PAST = new Date('2011-02-03T04:05:06.789Z');

function sh(command: string, args: readonly string[], cwd?: string): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Every kind of metadata rsync -aHAXS keeps: attributes, ACLs, a capability, links, holes, odd modes. */
function buildTree(src: string): void {
  fs.mkdirSync(path.join(src, 'shared/inner'), { recursive: true });
  fs.writeFileSync(path.join(src, 'tagged.txt'), 'tagged');
  sh('setfattr', ['-n', 'user.origin', '-v', 'camera', path.join(src, 'tagged.txt')]);
  sh('setfattr', ['-n', 'user.binary', '-v', '0x00ff10', path.join(src, 'tagged.txt')]);
  sh('setfattr', ['-n', 'trusted.md5', '-v', 'abc', path.join(src, 'tagged.txt')]);
  sh('setfattr', ['-n', 'user.folder', '-v', 'yes', path.join(src, 'shared')]);
  fs.writeFileSync(path.join(src, 'shared/acl.txt'), 'acl');
  sh('setfacl', ['-m', 'u:nobody:rw,g:nogroup:r', path.join(src, 'shared/acl.txt')]);
  sh('setfacl', ['-d', '-m', 'u:nobody:rwx', path.join(src, 'shared/inner')]);
  fs.writeFileSync(path.join(src, 'shared/inner/inherited.txt'), 'inherits the default ACL');
  fs.copyFileSync('/bin/true', path.join(src, 'ping-helper'));
  sh('setcap', ['cap_net_raw+ep', path.join(src, 'ping-helper')]);
  fs.writeFileSync(path.join(src, 'linked-a'), 'one inode, two names');
  fs.linkSync(path.join(src, 'linked-a'), path.join(src, 'linked-b'));
  sh('truncate', ['-s', '64M', path.join(src, 'sparse.img')]);
  sh('dd', ['if=/dev/urandom', `of=${path.join(src, 'sparse.img')}`, 'bs=64k', 'count=4', 'seek=300', 'conv=notrunc', 'status=none']);
  sh('mkfifo', [path.join(src, 'pipe')]);
  fs.symlinkSync('tagged.txt', path.join(src, 'link-to-tagged'));
  fs.symlinkSync('/nowhere/at/all', path.join(src, 'dangling'));
  fs.writeFileSync(path.join(src, 'odd-mode'), 'odd');
  fs.chmodSync(path.join(src, 'odd-mode'), 0o4751);
  fs.writeFileSync(path.join(src, 'sticky-none'), '');
  fs.chmodSync(path.join(src, 'sticky-none'), 0o1000);
  fs.chownSync(path.join(src, 'sticky-none'), NOBODY.uid, NOBODY.gid);
  for (const rel of ['tagged.txt', 'shared/acl.txt', 'odd-mode', 'sticky-none', 'shared/inner', 'shared', '.']) fs.utimesSync(path.join(src, rel), PAST, PAST);
}

/** Node sets times through a double of seconds, which lands within a microsecond of the nanoseconds rsync keeps. */
const MTIME_TOLERANCE_S = 2e-6;

/**
 * The metadata listing of a tree, paths relative to its root: type, mode, owner, link count, size (not of
 * folders: that is the filesystem's), xattrs and ACLs as text; mtimes apart (not of symlinks: this rsync
 * leaves a symlink its creation time; backupd keeps the source's), to compare within MTIME_TOLERANCE_S.
 * Rounded to the millisecond they once differed in the last digit: times within a microsecond of a
 * rounding boundary round to different sides.
 */
function metadataListing(root: string): { text: string; mtimes: Map<string, number> } {
  const xattrs = sh('getfattr', ['-R', '-h', '-d', '-m-', '-e', 'hex', '--absolute-names', '.'], root);
  const acls = sh('getfacl', ['-R', '-p', '-P', '.'], root);
  const mtimes = new Map<string, number>();
  const stats = sh('find', ['.', '-printf', '%p %y %m %u:%g %n %s %T@\\n'], root)
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [name, type, mode, owner, links, size, mtime] = line.split(' ') as string[];
      if (type !== 'l') mtimes.set(name as string, Number(mtime));
      return [name, type, mode, owner, links, type === 'd' ? '-' : size].join(' ');
    })
    .sort()
    .join('\n');
  return { text: `${stats}\n--- xattrs\n${xattrs}\n--- acls\n${acls}`, mtimes };
}

describe('backup keeps what rsync -aHAXS keeps', () => {
  it('lists the same attributes, ACLs, capability, links, modes and times as rsync -aHAXS', async () => {
    const root = tempDir();
    const src = path.join(root, 'src');
    buildTree(src);
    const ours = path.join(root, 'backupd');
    const theirs = path.join(root, 'rsync');

    const summary = await backupJson([src, ours, '--hard-links']);
    // backupd never opens a FIFO (it reports it): rsync is told to leave specials out too.
    sh('rsync', ['-aHAXS', '--no-specials', `${src}/`, `${theirs}/`]);

    expect(summary.warnings.map((w) => w.path)).toEqual([path.join(src, 'pipe')]);
    const mine = metadataListing(ours);
    const rsyncs = metadataListing(theirs);
    expect(mine.text).toBe(rsyncs.text);
    expect([...mine.mtimes.keys()].sort()).toEqual([...rsyncs.mtimes.keys()].sort());
    for (const [name, mtime] of mine.mtimes) expect(Math.abs(mtime - (rsyncs.mtimes.get(name) as number)), name).toBeLessThan(MTIME_TOLERANCE_S);
    // Guard against two equally empty listings, and mtimes that were not kept at all.
    expect(mine.text).toContain('security.capability');
    expect(mine.text).toContain('default:user:nobody:rwx');
    expect(mine.mtimes.get('./odd-mode')).toBe(1296705906.789);
    expect(sh('getcap', [path.join(ours, 'ping-helper')])).toContain('cap_net_raw=ep');
  });

  it('keeps holes: a sparse file takes no more space than its data', async () => {
    const root = tempDir();
    const src = path.join(root, 'src');
    fs.mkdirSync(src);
    const file = path.join(src, 'disk.img');
    sh('truncate', ['-s', '256M', file]);
    sh('dd', ['if=/dev/urandom', `of=${file}`, 'bs=1M', 'count=2', 'seek=100', 'conv=notrunc', 'status=none']);
    const dest = path.join(root, 'dest');

    await backupJson([src, dest]);

    const copy = fs.statSync(path.join(dest, 'disk.img'));
    expect(copy.size).toBe(256 << 20);
    expect(copy.blocks * 512).toBeLessThanOrEqual(4 << 20);
    expect(sh('cmp', [file, path.join(dest, 'disk.img')])).toBe('');
  });

  it('carries an attribute-only change over on a rerun without copying the content again', async () => {
    const root = tempDir();
    const src = path.join(root, 'src');
    fs.mkdirSync(src);
    const file = path.join(src, 'photo.jpg');
    fs.writeFileSync(file, 'jpeg');
    sh('setfattr', ['-n', 'user.rating', '-v', '3', file]);
    sh('setfattr', ['-n', 'user.gone', '-v', 'soon', file]);
    const dest = path.join(root, 'dest');
    await backupJson([src, dest]);
    const inode = fs.statSync(path.join(dest, 'photo.jpg')).ino;

    sh('setfattr', ['-n', 'user.rating', '-v', '5', file]);
    sh('setfattr', ['-x', 'user.gone', file]);
    sh('setfacl', ['-m', 'u:nobody:r', file]);
    const rerun = await backupJson([src, dest]);

    expect(rerun.filesCopied).toBe(0);
    expect(fs.statSync(path.join(dest, 'photo.jpg')).ino).toBe(inode);
    const attrs = sh('getfattr', ['-d', '-m-', '--absolute-names', path.join(dest, 'photo.jpg')]);
    expect(attrs).toContain('user.rating="5"');
    expect(attrs).not.toContain('user.gone');
    expect(sh('getfacl', ['-p', path.join(dest, 'photo.jpg')])).toContain('user:nobody:r--');
  });

  it('--no-xattrs copies none', async () => {
    const root = tempDir();
    const src = path.join(root, 'src');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'f'), 'f');
    sh('setfattr', ['-n', 'user.k', '-v', 'v', path.join(src, 'f')]);
    await backupJson([src, path.join(root, 'dest'), '--no-xattrs']);
    expect(sh('getfattr', ['-d', '-m-', '--absolute-names', path.join(root, 'dest/f')])).toBe('');
  });

  it('names the file and the attribute it cannot set, and still exits 0 (a warning)', async () => {
    const root = tempDir();
    fs.chmodSync(root, 0o755);
    const src = path.join(root, 'src');
    fs.mkdirSync(src);
    fs.copyFileSync('/bin/true', path.join(src, 'helper'));
    sh('setcap', ['cap_net_raw+ep', path.join(src, 'helper')]);
    const dest = path.join(root, 'dest');
    fs.mkdirSync(dest);
    fs.chownSync(dest, NOBODY.uid, NOBODY.gid);

    const summary = await backupJson([src, dest], 0, { asUser: NOBODY });

    expect(summary.filesCopied).toBe(1);
    expect(summary.warnings).toEqual([
      { path: path.join(dest, 'helper'), code: 'EPERM', message: 'extended attribute security.capability not kept: operation not permitted' },
    ]);
  });
});

describe('-x, --one-file-system', () => {
  const mounted: string[] = [];
  afterEach(() => {
    for (const point of mounted.splice(0)) sh('umount', [point]);
  });

  it('creates a mount point as an empty folder with -x and copies its contents without', async () => {
    const root = tempDir();
    const src = path.join(root, 'src');
    fs.mkdirSync(path.join(src, 'mnt'), { recursive: true });
    fs.writeFileSync(path.join(src, 'here.txt'), 'on the source filesystem');
    sh('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', path.join(src, 'mnt')]);
    mounted.push(path.join(src, 'mnt'));
    fs.mkdirSync(path.join(src, 'mnt/sub'));
    fs.writeFileSync(path.join(src, 'mnt/sub/there.txt'), 'on another filesystem');

    const withX = await backupJson([src, path.join(root, 'with-x'), '-x']);
    const without = await backupJson([src, path.join(root, 'without')]);

    expect(withX.filesCopied).toBe(1);
    expect(fs.statSync(path.join(root, 'with-x/mnt')).isDirectory()).toBe(true);
    expect(fs.readdirSync(path.join(root, 'with-x/mnt'))).toEqual([]);
    expect(without.filesCopied).toBe(2);
    expect(fs.readFileSync(path.join(root, 'without/mnt/sub/there.txt'), 'utf8')).toBe('on another filesystem');
  });

  it('is in --help with an example, without commander default noise', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('-x, --one-file-system');
    expect(help.stdout).toContain('--no-xattrs');
    expect(help.stdout).toMatch(/backup .* -x /);
    expect(help.stdout).not.toContain('(default: false)');
    expect(help.stdout).not.toContain('(default: [])');
  });
});
