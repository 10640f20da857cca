import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { backupJson, listing } from '../helpers/backup.js';
import { CLI, runCli } from '../helpers/cli.js';
import { findTemps, snapshot, tempDir, writeTree } from '../helpers/tree.js';

const PAST = new Date('2003-04-05T06:07:08.901Z');
const OLDER = new Date('1999-12-31T23:59:59.123Z');

/** A source tree with every kind of entry backupd must keep, and past mtimes on files and folders. */
function fidelityTree(root: string): string {
  const src = path.join(root, 'src');
  writeTree(src, {
    'a/b/c/deep.txt': { content: 'deep', mtime: OLDER },
    'unicode ünïcødé 日本/ファイル 名.txt': 'unicode',
    'name with spaces.txt': { content: 'spaces', mode: 0o640 },
    'empty-dir': { dir: true, mode: 0o750 },
    'empty-file': '',
    'big.bin': { content: randomBytes(24 << 20), mtime: PAST },
    'private.key': { content: 'secret', mode: 0o600 },
    'run.sh': { content: '#!/bin/sh\necho hi\n', mode: 0o755 },
    'links/relative': { symlink: '../a/b/c/deep.txt' },
    'links/dangling': { symlink: 'does/not/exist' },
    'links/absolute': { symlink: '/etc/hostname' },
    'locked-dir/x': 'x',
  });
  fs.chmodSync(path.join(src, 'locked-dir'), 0o500);
  for (const dir of ['a/b/c', 'a/b', 'a', 'links', 'empty-dir', 'locked-dir', '.']) fs.utimesSync(path.join(src, dir), PAST, PAST);
  return src;
}

describe('backup copies a tree exactly', () => {
  it('keeps content, modes, mtimes and symlink targets of every entry', async () => {
    const root = tempDir();
    const src = fidelityTree(root);
    const dest = path.join(root, 'dest');
    const summary = await backupJson([src, dest]);
    expect(snapshot(dest)).toEqual(snapshot(src));
    expect(summary).toMatchObject({ filesTotal: 8, filesCopied: 8, filesSkipped: 0, filesFailed: 0, errors: [] });
    expect(summary.bytesCopied).toBe((24 << 20) + 4 + 7 + 6 + 0 + 6 + 18 + 1);
    expect(findTemps(dest)).toEqual([]);
  });

  it('copies nothing on a second run and leaves dest exactly as it was', async () => {
    const root = tempDir();
    const src = fidelityTree(root);
    const dest = path.join(root, 'dest');
    await backupJson([src, dest]);
    const inode = fs.statSync(path.join(dest, 'big.bin')).ino;
    const second = await backupJson([src, dest]);
    expect(second).toMatchObject({ filesTotal: 8, filesCopied: 0, filesSkipped: 8, filesFailed: 0, bytesCopied: 0 });
    expect(fs.statSync(path.join(dest, 'big.bin')).ino).toBe(inode);
    expect(snapshot(dest)).toEqual(snapshot(src));
  });

  it.each([
    { title: 'with the same result for --jobs 1 and --jobs 8', jobs: ['1', '8'] },
  ])('copies many small files $title', async ({ jobs }) => {
    const root = tempDir();
    const spec: Record<string, string> = {};
    for (let i = 0; i < 600; i++) spec[`d${i % 7}/sub${i % 3}/f${i}.txt`] = `file ${i} `.repeat(i % 50);
    const src = path.join(root, 'src');
    writeTree(src, spec);
    const snapshots = [];
    for (const n of jobs) {
      const dest = path.join(root, `dest-${n}`);
      const summary = await backupJson([src, dest, '--jobs', n]);
      expect(summary).toMatchObject({ filesTotal: 600, filesCopied: 600, filesFailed: 0 });
      snapshots.push(snapshot(dest));
    }
    expect(snapshots[0]).toEqual(snapshot(src));
    expect(snapshots[1]).toEqual(snapshots[0]);
  });

  it('keeps a file name of 255 bytes, in ASCII and in multi-byte UTF-8, also when it is copied again', async () => {
    const root = tempDir();
    const ascii = 'a'.repeat(255);
    const multi = `${'é'.repeat(127)}x`;
    expect(Buffer.byteLength(multi)).toBe(255);
    const src = path.join(root, 'src');
    writeTree(src, { [ascii]: 'one', [`sub/${multi}`]: 'two' });
    const dest = path.join(root, 'dest');
    await backupJson([src, dest]);
    fs.writeFileSync(path.join(src, ascii), 'changed');
    const second = await backupJson([src, dest]);
    expect(second.filesCopied).toBe(1);
    expect(snapshot(dest)).toEqual(snapshot(src));
    expect(findTemps(dest)).toEqual([]);
  });

  it('keeps a file name that is not valid UTF-8 byte for byte', async () => {
    const root = tempDir();
    const src = path.join(root, 'src');
    fs.mkdirSync(src);
    const dirName = Buffer.from([0x64, 0xe9, 0x6a, 0xe0]); // "déjà" in latin1
    const fileName = Buffer.from([0x66, 0xff, 0xfe, 0x80, 0x2e, 0x62, 0x69, 0x6e]);
    const join = (...parts: (string | Buffer)[]) => Buffer.concat(parts.flatMap((p, i) => (i === 0 ? [Buffer.from(p)] : [Buffer.from('/'), Buffer.from(p)])));
    fs.mkdirSync(join(src, dirName));
    fs.writeFileSync(join(src, dirName, fileName), 'bytes');
    const dest = path.join(root, 'dest');
    const summary = await backupJson([src, dest]);
    expect(summary.filesCopied).toBe(1);
    expect(fs.readdirSync(dest, { encoding: 'buffer' })).toEqual([dirName]);
    expect(fs.readdirSync(join(dest, dirName), { encoding: 'buffer' })).toEqual([fileName]);
    expect(fs.readFileSync(join(dest, dirName, fileName), 'utf8')).toBe('bytes');
    expect((await backupJson([src, dest])).filesCopied).toBe(0);
  });

  it('leaves out backupd temporaries found in the source (leftovers of a killed run into that folder)', async () => {
    const root = tempDir();
    const src = path.join(root, 'src');
    writeTree(src, { 'kept.txt': 'k', 'sub/.kept.txt.0123abcd.backupd-tmp': 'half a copy' });
    const summary = await backupJson([src, path.join(root, 'dest')]);
    expect(summary).toMatchObject({ filesTotal: 1, filesCopied: 1, warnings: [] });
    expect(fs.readdirSync(path.join(root, 'dest', 'sub'))).toEqual([]);
  });
});

describe('backup picks its dest', () => {
  it.each([
    { title: 'source given as "src"', arg: 'src' },
    { title: 'source given as "src/"', arg: 'src/' },
    { title: 'source given as an absolute path with a trailing slash', arg: 'ABS/' },
  ])('writes to the sibling <source>-backup for the $title', async ({ arg }) => {
    const root = tempDir();
    writeTree(path.join(root, 'src'), { 'f.txt': 'x' });
    const result = await runCli([arg.replace('ABS', path.join(root, 'src'))], { cwd: root });
    expect(result.code, result.stderr).toBe(0);
    expect(fs.readdirSync(root).sort()).toEqual(['src', 'src-backup']);
    expect(fs.readFileSync(path.join(root, 'src-backup', 'f.txt'), 'utf8')).toBe('x');
  });

  it('takes dest from --to', async () => {
    const root = tempDir();
    writeTree(path.join(root, 'src'), { 'f.txt': 'x' });
    await backupJson([path.join(root, 'src'), '--to', path.join(root, 'elsewhere')]);
    expect(fs.readFileSync(path.join(root, 'elsewhere', 'f.txt'), 'utf8')).toBe('x');
  });
});

describe('backup is incremental', () => {
  it('copies a file whose size or mtime changed, and only those', async () => {
    const root = tempDir();
    const src = path.join(root, 'src');
    writeTree(src, { 'same.txt': 'same', 'grown.txt': 'short', 'touched.txt': { content: 'touch', mtime: PAST } });
    const dest = path.join(root, 'dest');
    await backupJson([src, dest]);
    fs.writeFileSync(path.join(src, 'grown.txt'), 'much longer now');
    fs.utimesSync(path.join(src, 'touched.txt'), OLDER, OLDER);
    const summary = await backupJson([src, dest]);
    expect(summary).toMatchObject({ filesTotal: 3, filesCopied: 2, filesSkipped: 1, bytesCopied: 15 + 5 });
    expect(snapshot(dest)).toEqual(snapshot(src));
  });

  it('with --checksum copies a file whose content changed but whose size and mtime were kept', async () => {
    const root = tempDir();
    const src = path.join(root, 'src');
    writeTree(src, { 'doc.txt': { content: 'version A', mtime: PAST }, 'other.txt': 'other' });
    const dest = path.join(root, 'dest');
    await backupJson([src, dest]);
    writeTree(src, { 'doc.txt': { content: 'version B', mtime: PAST } });

    const plain = await backupJson([src, dest]);
    expect(plain.filesCopied).toBe(0);
    expect(fs.readFileSync(path.join(dest, 'doc.txt'), 'utf8')).toBe('version A');

    const checked = await backupJson([src, dest, '--checksum']);
    expect(checked).toMatchObject({ filesTotal: 2, filesCopied: 1, filesSkipped: 1, filesFailed: 0 });
    expect(fs.readFileSync(path.join(dest, 'doc.txt'), 'utf8')).toBe('version B');
    expect(snapshot(dest)).toEqual(snapshot(src));
  });

  it('with --verify copies and checks every file', async () => {
    const root = tempDir();
    const src = path.join(root, 'src');
    writeTree(src, { 'a.bin': randomBytes(3 << 20), 'b.txt': 'b' });
    const dest = path.join(root, 'dest');
    expect(await backupJson([src, dest, '--verify'])).toMatchObject({ filesCopied: 2, filesFailed: 0 });
    expect(snapshot(dest)).toEqual(snapshot(src));
  });
});

describe('backup --delete', () => {
  async function withStaleDest() {
    const root = tempDir();
    const src = path.join(root, 'src');
    writeTree(src, { 'keep.txt': 'k', 'old.txt': 'o', 'olddir/x/y.txt': 'y', 'cache/c.txt': 'c' });
    const dest = path.join(root, 'dest');
    await backupJson([src, dest]);
    fs.rmSync(path.join(src, 'old.txt'));
    fs.rmSync(path.join(src, 'olddir'), { recursive: true });
    return { src, dest };
  }

  it('leaves entries that left the source in dest without --delete', async () => {
    const { src, dest } = await withStaleDest();
    await backupJson([src, dest]);
    expect(fs.existsSync(path.join(dest, 'old.txt'))).toBe(true);
    expect(fs.existsSync(path.join(dest, 'olddir/x/y.txt'))).toBe(true);
  });

  it('removes entries that left the source with --delete, but never excluded ones', async () => {
    const { src, dest } = await withStaleDest();
    writeTree(dest, { 'dest-only.log': 'excluded, so kept' });
    await backupJson([src, dest, '--delete', '--exclude', '*.log', '--exclude', 'cache']);
    expect(fs.readdirSync(dest).sort()).toEqual(['cache', 'dest-only.log', 'keep.txt']);
    expect(fs.readFileSync(path.join(dest, 'cache/c.txt'), 'utf8')).toBe('c');
  });
});

describe('backup excludes', () => {
  it('applies --exclude and .backupignore files with negation, and creates no excluded folder', async () => {
    const root = tempDir();
    const src = path.join(root, 'src');
    writeTree(src, {
      '.backupignore': '# logs are noise\n*.log\n!keep.log\n/build/\n',
      'keep.log': 'kept by negation',
      'drop.log': 'x',
      'build/out.o': 'x',
      'lib/build/out.o': 'only the root build is anchored',
      'node_modules/m/index.js': 'x',
      'a/node_modules/m/index.js': 'x',
      'a/scratch.tmp': 'x',
      'a/.backupignore': '!deep.log\n',
      'a/deep.log': 'kept by the deeper file',
      'a/other.log': 'x',
      'a/real.txt': 'real',
    });
    const dest = path.join(root, 'dest');
    const summary = await backupJson([src, dest, '--exclude', 'node_modules', '--exclude', '*.tmp']);
    expect(listing(dest).map((p) => path.relative(dest, p))).toEqual(
      ['.backupignore', 'a', 'a/.backupignore', 'a/deep.log', 'a/real.txt', 'keep.log', 'lib', 'lib/build', 'lib/build/out.o'].sort(),
    );
    expect(summary.filesTotal).toBe(6);
  });
});

describe('backup --dry-run', () => {
  it('lists what it would do and writes nothing, not even the dest folder', async () => {
    const root = tempDir();
    const src = path.join(root, 'src');
    writeTree(src, { 'sub/new.txt': 'n', 'top.txt': 't' });
    const dest = path.join(root, 'dest');
    const result = await runCli([src, dest, '--dry-run']);
    expect(result.code, result.stderr).toBe(0);
    expect(fs.existsSync(dest)).toBe(false);
    expect(result.stdout.split('\n')).toEqual(expect.arrayContaining(['create folder sub', 'copy sub/new.txt', 'copy top.txt']));
  });

  it('lists deletes and changes against an existing dest and leaves it untouched', async () => {
    const root = tempDir();
    const src = path.join(root, 'src');
    writeTree(src, { 'a.txt': 'a', 'gone.txt': 'g' });
    const dest = path.join(root, 'dest');
    await backupJson([src, dest]);
    fs.rmSync(path.join(src, 'gone.txt'));
    fs.writeFileSync(path.join(src, 'a.txt'), 'changed');
    const before = snapshot(dest);
    const result = await runCli([src, dest, '--dry-run', '--delete']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.split('\n')).toEqual(expect.arrayContaining(['copy a.txt', 'delete gone.txt']));
    expect(snapshot(dest)).toEqual(before);
  });

  it('with --json prints one object listing the actions', async () => {
    const root = tempDir();
    writeTree(path.join(root, 'src'), { 'f.txt': 'x' });
    const result = await runCli([path.join(root, 'src'), '--dry-run', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ dryRun: true, filesTotal: 1, bytesToCopy: 1, actions: expect.arrayContaining([{ action: 'copy', path: 'f.txt' }]) });
    expect(fs.existsSync(path.join(root, 'src-backup'))).toBe(false);
  });
});

describe('backup output', () => {
  it('with --json prints exactly one JSON object with the documented keys on stdout', async () => {
    const root = tempDir();
    writeTree(path.join(root, 'src'), { 'a.txt': 'aa', 'b/c.txt': 'ccc', 'l': { symlink: 'a.txt' } });
    const result = await runCli([path.join(root, 'src'), '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
    const summary = JSON.parse(result.stdout) as Record<string, unknown>;
    for (const key of ['filesTotal', 'filesCopied', 'filesSkipped', 'filesFailed', 'bytesCopied', 'durationMs', 'errors']) expect(summary).toHaveProperty(key);
    expect(summary).toMatchObject({ filesTotal: 2, filesCopied: 2, filesSkipped: 0, filesFailed: 0, bytesCopied: 5, errors: [] });
    expect(typeof summary.durationMs).toBe('number');
  });

  it('prints a human summary on stderr and nothing on stdout by default', async () => {
    const root = tempDir();
    writeTree(path.join(root, 'src'), { 'a.txt': 'aa' });
    const result = await runCli([path.join(root, 'src')]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/1 copied, 0 unchanged, 0 failed of 1 files/);
  });

  /** A carriage return that does not end a line (the pty turns \n into \r\n), or an escape sequence. */
  const TERMINAL_CONTROL = new RegExp(`\r(?!\n)|${String.fromCharCode(27)}`);

  /** Runs the CLI on a pseudo-terminal (util-linux `script`), where a progress bar would be drawn. */
  function onTerminal(args: readonly string[]): string {
    const command = [process.execPath, CLI, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
    return execFileSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', env: { ...process.env, XDG_CONFIG_HOME: '/nonexistent-backupd-test-config' } });
  }

  it('with --quiet prints no carriage returns or terminal codes, even on a terminal', () => {
    const root = tempDir();
    writeTree(path.join(root, 'src'), { 'big.bin': randomBytes(16 << 20), 'f.txt': 'x' });
    const output = onTerminal([path.join(root, 'src'), '--quiet']);
    expect(output).not.toMatch(TERMINAL_CONTROL);
    expect(fs.existsSync(path.join(root, 'src-backup', 'big.bin'))).toBe(true);
  });

  it('draws a progress bar on a terminal without --quiet (so the check above can fail)', () => {
    const root = tempDir();
    writeTree(path.join(root, 'src'), { 'big.bin': randomBytes(16 << 20) });
    expect(onTerminal([path.join(root, 'src')])).toMatch(TERMINAL_CONTROL);
  });
});

describe('backup when entries change type', () => {
  it('replaces files, folders and symlinks whose type changed, and needs --delete for a folder that became a file', async () => {
    const root = tempDir();
    const src = path.join(root, 'src');
    writeTree(src, {
      'file-to-dir': 'f',
      'dir-to-file/inner.txt': 'i',
      'dir-to-link/inner.txt': 'i',
      'file-to-link': 'f',
      'link-to-file': { symlink: 'file-to-link' },
      'retarget': { symlink: 'old-target' },
    });
    const dest = path.join(root, 'dest');
    // Where dest/dir-to-link will point once it is a link: its old contents must not be deleted there.
    writeTree(root, { 'outside/inner.txt': 'not part of the backup' });
    await backupJson([src, dest]);
    for (const p of ['file-to-dir', 'dir-to-file', 'dir-to-link', 'file-to-link', 'link-to-file', 'retarget']) fs.rmSync(path.join(src, p), { recursive: true });
    writeTree(src, {
      'file-to-dir/now.txt': 'now a folder',
      'dir-to-file': 'now a file',
      'dir-to-link': { symlink: '../outside' },
      'file-to-link': { symlink: 'dir-to-file' },
      'link-to-file': 'now a file',
      'retarget': { symlink: 'new-target' },
    });

    const refused = await backupJson([src, dest], 1);
    const errorPaths = refused.errors.map((e) => e.path).sort();
    expect(errorPaths).toEqual([path.join(dest, 'dir-to-file'), path.join(dest, 'dir-to-link')]);
    expect(refused.result.stderr).toContain(`${path.join(dest, 'dir-to-file')}: `);
    expect(fs.readFileSync(path.join(dest, 'dir-to-file/inner.txt'), 'utf8')).toBe('i');
    expect(fs.readFileSync(path.join(dest, 'file-to-dir/now.txt'), 'utf8')).toBe('now a folder');
    expect(fs.readlinkSync(path.join(dest, 'retarget'))).toBe('new-target');
    expect(fs.readlinkSync(path.join(dest, 'file-to-link'))).toBe('dir-to-file');
    expect(fs.lstatSync(path.join(dest, 'link-to-file')).isFile()).toBe(true);

    await backupJson([src, dest, '--delete']);
    expect(snapshot(dest)).toEqual(snapshot(src));
    // The old folder's contents went with it, not through the new link.
    expect(fs.readFileSync(path.join(root, 'outside/inner.txt'), 'utf8')).toBe('not part of the backup');
  });
});
