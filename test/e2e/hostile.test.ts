import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { backupJson } from '../helpers/backup.js';
import { snapshot, tempDir, writeTree, type TreeSpec } from '../helpers/tree.js';

const NOBODY = { uid: 65534, gid: 65534 };

/** A temp root owned by `nobody` holding src/ with `spec`, so the CLI can run as that user. */
function nobodyTree(spec: TreeSpec): { src: string; dest: string } {
  const root = tempDir();
  fs.chmodSync(root, 0o755);
  const src = path.join(root, 'src');
  writeTree(src, spec);
  execFileSync('chown', ['-R', `${NOBODY.uid}:${NOBODY.gid}`, root]);
  return { src, dest: path.join(root, 'dest') };
}

function listenOn(socketPath: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(socketPath, () => resolve(server));
  });
}

describe('backup with special files in the source', () => {
  it('skips a FIFO and a socket with a warning, without hanging, and copies everything else', async () => {
    const root = tempDir();
    const src = path.join(root, 'src');
    writeTree(src, { 'a.txt': 'a', 'sub/b.txt': 'b' });
    execFileSync('mkfifo', [path.join(src, 'sub/pipe')]);
    const server = await listenOn(path.join(src, 'sock'));
    try {
      const dest = path.join(root, 'dest');
      const summary = await backupJson([src, dest], 0, { timeoutMs: 20_000 });
      expect(summary).toMatchObject({ filesTotal: 2, filesCopied: 2, filesFailed: 0, errors: [] });
      expect(summary.result.stderr).toMatch(new RegExp(`warning: ${path.join(src, 'sub/pipe')}: .*fifo`));
      expect(summary.result.stderr).toMatch(new RegExp(`warning: ${path.join(src, 'sock')}: .*socket`));
      expect(fs.readdirSync(dest).sort()).toEqual(['a.txt', 'sub']);
      expect(fs.readdirSync(path.join(dest, 'sub'))).toEqual(['b.txt']);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('backup as an unprivileged user', () => {
  it('names an unreadable file with EACCES, exits 1 and copies the rest', async () => {
    const { src, dest } = nobodyTree({ 'ok.txt': 'fine', 'secret.txt': 'hidden', 'sub/also-ok.txt': 'fine too' });
    fs.chmodSync(path.join(src, 'secret.txt'), 0o000);

    const summary = await backupJson([src, dest], 1, { asUser: NOBODY });
    const secret = path.join(src, 'secret.txt');
    expect(summary.errors).toEqual([{ path: secret, code: 'EACCES', message: expect.any(String) }]);
    expect(summary).toMatchObject({ filesTotal: 3, filesCopied: 2, filesFailed: 1 });
    expect(summary.result.stderr).toContain(`${secret}: `);
    expect(summary.result.stderr).toContain('EACCES');
    expect(fs.readFileSync(path.join(dest, 'ok.txt'), 'utf8')).toBe('fine');
    expect(fs.readFileSync(path.join(dest, 'sub/also-ok.txt'), 'utf8')).toBe('fine too');
    expect(fs.existsSync(path.join(dest, 'secret.txt'))).toBe(false);
    expect(fs.statSync(path.join(dest, 'ok.txt')).uid).toBe(NOBODY.uid);
  });

  it('names an unreadable folder, exits 1 and copies the rest', async () => {
    const { src, dest } = nobodyTree({ 'ok.txt': 'fine', 'closed/inner.txt': 'x' });
    fs.chmodSync(path.join(src, 'closed'), 0o000);
    const summary = await backupJson([src, dest], 1, { asUser: NOBODY });
    expect(summary.errors).toEqual([expect.objectContaining({ path: path.join(src, 'closed'), code: 'EACCES' })]);
    expect(fs.readFileSync(path.join(dest, 'ok.txt'), 'utf8')).toBe('fine');
  });
});

describe('backup --delete after a scan error', () => {
  it('deletes nothing when a source folder could not be listed, so its backup is not lost', async () => {
    const { src, dest } = nobodyTree({ 'gone.txt': 'g', 'closed/inner.txt': 'keep me' });
    await backupJson([src, dest], 0, { asUser: NOBODY });
    fs.rmSync(path.join(src, 'gone.txt'));
    fs.chmodSync(path.join(src, 'closed'), 0o000);

    const summary = await backupJson([src, dest, '--delete'], 1, { asUser: NOBODY });
    expect(summary.errors).toEqual([expect.objectContaining({ path: path.join(src, 'closed'), code: 'EACCES' })]);
    expect(summary.result.stderr).toContain('deletes skipped');
    expect(fs.readFileSync(path.join(dest, 'closed/inner.txt'), 'utf8')).toBe('keep me');
    expect(fs.existsSync(path.join(dest, 'gone.txt'))).toBe(true);
  });
});

describe('backup --delete after a failed copy', () => {
  it('deletes nothing when a copy failed, so the old copy is not lost too', async () => {
    const { src, dest } = nobodyTree({ 'gone.txt': 'g', 'secret.txt': 's' });
    await backupJson([src, dest], 0, { asUser: NOBODY });
    fs.rmSync(path.join(src, 'gone.txt'));
    fs.writeFileSync(path.join(src, 'secret.txt'), 'new secret');
    fs.chmodSync(path.join(src, 'secret.txt'), 0o000);

    const summary = await backupJson([src, dest, '--delete'], 1, { asUser: NOBODY });
    expect(summary.errors).toEqual([expect.objectContaining({ path: path.join(src, 'secret.txt'), code: 'EACCES' })]);
    expect(summary.result.stderr).toContain('deletes skipped');
    expect(fs.existsSync(path.join(dest, 'gone.txt'))).toBe(true);
    expect(fs.readFileSync(path.join(dest, 'secret.txt'), 'utf8')).toBe('s');
  });
});

describe('backup with symlinks planted in dest', () => {
  it('replaces a symlink where a folder or a file will be written and writes nothing outside dest', async () => {
    const root = tempDir();
    const src = path.join(root, 'src');
    writeTree(src, { 'sub/file.txt': 'from source', 'top.txt': 'top from source', 'deep/er/x.txt': 'x' });
    const outside = path.join(root, 'outside');
    writeTree(outside, { 'file.txt': 'precious', 'top-target.txt': 'precious too', 'er/x.txt': 'precious three' });
    const before = snapshot(outside);
    const dest = path.join(root, 'dest');
    writeTree(dest, {
      sub: { symlink: outside },
      'top.txt': { symlink: path.join(outside, 'top-target.txt') },
      'deep/er': { symlink: path.join(outside, 'er') },
    });

    await backupJson([src, dest]);
    expect(snapshot(outside)).toEqual(before);
    expect(snapshot(dest)).toEqual(snapshot(src));
  });

  it('replaces a planted symlink even when its target looks current (same size and mtime)', async () => {
    const root = tempDir();
    const src = path.join(root, 'src');
    const mtime = new Date('2010-10-10T10:10:10.000Z');
    writeTree(src, { 'f.txt': { content: 'same size', mtime } });
    const outside = path.join(root, 'outside.txt');
    writeTree(root, { 'outside.txt': { content: 'SAME SIZE', mtime } });
    const dest = path.join(root, 'dest');
    writeTree(dest, { 'f.txt': { symlink: outside } });
    await backupJson([src, dest]);
    expect(fs.lstatSync(path.join(dest, 'f.txt')).isFile()).toBe(true);
    expect(fs.readFileSync(path.join(dest, 'f.txt'), 'utf8')).toBe('same size');
    expect(fs.readFileSync(outside, 'utf8')).toBe('SAME SIZE');
  });
});
