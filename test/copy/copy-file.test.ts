import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { rawFromUser } from '../../src/common/raw-path.js';
import { copyFile } from '../../src/copy/copy-file.js';
import type { CopySettings, FileJob } from '../../src/copy/types.js';
import { ProgressReporter } from '../../src/progress/events.js';
import { findTemps, sha256File, tempDir } from '../helpers/tree.js';

const PLAIN: CopySettings = { verify: false, keepOwner: false, xattrs: true };

/** A reporter that records bytes and lets a test act while a copy is under way. */
class Watcher extends ProgressReporter {
  seenBytes = 0;
  seenFiles = 0;
  constructor(private readonly onChunk: (bytes: number) => void = () => {}) {
    super(undefined);
  }
  override add(bytes: number, files = 0): void {
    this.seenBytes += bytes;
    this.seenFiles += files;
    if (bytes > 0) this.onChunk(bytes);
  }
}

function setup(content: string | Buffer = 'hello', mode = 0o644) {
  const root = tempDir();
  const src = path.join(root, 'src');
  const dst = path.join(root, 'dst');
  fs.mkdirSync(src);
  fs.mkdirSync(dst);
  const srcFile = path.join(src, 'f');
  fs.writeFileSync(srcFile, content);
  fs.chmodSync(srcFile, mode);
  const scanned = fs.statSync(srcFile);
  const job: FileJob = {
    rel: 'f',
    src: rawFromUser(srcFile),
    dst: rawFromUser(path.join(dst, 'f')),
    skipIfSameContent: false,
    scanned: { size: scanned.size, mtimeMs: scanned.mtimeMs },
  };
  return { src, dst, srcFile, dstFile: path.join(dst, 'f'), job };
}

describe('copyFile', () => {
  it('copies a large file in the kernel with its metadata, reports all its bytes and leaves no temporary', async () => {
    const content = Buffer.alloc(24 << 20);
    for (let i = 0; i < content.length; i += 4096) content.writeUInt32LE(i, i);
    const { srcFile, dstFile, dst, job } = setup(content, 0o640);
    fs.utimesSync(srcFile, new Date('2003-04-05T06:07:08.900Z'), new Date('2004-05-06T07:08:09.100Z'));
    const progress = new Watcher();
    expect(await copyFile(job, PLAIN, progress)).toMatchObject({ rel: 'f', status: 'copied', bytes: content.length });
    expect(sha256File(dstFile)).toBe(sha256File(srcFile));
    expect(fs.statSync(dstFile).mode & 0o7777).toBe(0o640);
    expect(Math.abs(fs.statSync(dstFile).mtimeMs - Date.parse('2004-05-06T07:08:09.100Z'))).toBeLessThan(1);
    expect(progress.seenBytes).toBe(content.length);
    expect(findTemps(dst)).toEqual([]);
  });

  it.each([0o600, 0o644, 0o755, 0o4750, 0o400])('copies content, mode %o, mtime and atime, and leaves no temporary', async (mode) => {
    const { srcFile, dstFile, dst, job } = setup(Buffer.alloc(3 * (1 << 20) + 17, 7), mode);
    fs.utimesSync(srcFile, new Date('2001-02-03T04:05:06.789Z'), new Date('2010-01-02T03:04:05.678Z'));
    // Reading the source may move its atime: the copy keeps the times the scan saw.
    const s = fs.statSync(srcFile);
    const progress = new Watcher();
    const scanned = { size: s.size, mtimeMs: s.mtimeMs };
    expect(await copyFile({ ...job, scanned }, PLAIN, progress)).toEqual({ rel: 'f', status: 'copied', bytes: 3 * (1 << 20) + 17, changedSinceScan: false });
    const d = fs.statSync(dstFile);
    expect(sha256File(dstFile)).toBe(sha256File(srcFile));
    expect(d.mode & 0o7777).toBe(mode);
    expect(Math.abs(d.mtimeMs - s.mtimeMs)).toBeLessThan(1);
    expect(Math.abs(d.atimeMs - s.atimeMs)).toBeLessThan(1);
    expect(findTemps(dst)).toEqual([]);
    expect({ bytes: progress.seenBytes, files: progress.seenFiles }).toEqual({ bytes: s.size, files: 1 });
  });

  it('writes a small file into a temporary with its final mode when its owner is final, never at the final name', async () => {
    const { dst, job } = setup(Buffer.alloc(900 << 10, 1), 0o750);
    const seen: number[] = [];
    const progress = new Watcher(() => {
      for (const name of findTemps(dst)) seen.push(fs.statSync(path.join(dst, name)).mode & 0o7777);
      expect(fs.existsSync(path.join(dst, 'f'))).toBe(false);
    });
    expect((await copyFile(job, PLAIN, progress)).status).toBe('copied');
    expect(seen.length).toBeGreaterThan(0);
    // As rsync does: nobody may read the temporary who may not read the copy (umask 022 leaves 0750).
    expect(new Set(seen)).toEqual(new Set([0o750 & ~process.umask()]));
    expect(fs.statSync(path.join(dst, 'f')).mode & 0o7777).toBe(0o750);
  });

  it.runIf(process.getuid?.() === 0)('keeps the temporary of a file owned by someone else 0600 until its owner is set', async () => {
    const { src, dst, job } = setup(Buffer.alloc(900 << 10, 1), 0o644);
    fs.chownSync(path.join(src, 'f'), 1000, 1000);
    const seen: number[] = [];
    const progress = new Watcher(() => {
      for (const name of findTemps(dst)) seen.push(fs.statSync(path.join(dst, name)).mode & 0o7777);
    });
    expect((await copyFile(job, { ...PLAIN, keepOwner: true }, progress)).status).toBe('copied');
    expect(new Set(seen)).toEqual(new Set([0o600]));
    const copied = fs.statSync(path.join(dst, 'f'));
    expect([copied.uid, copied.gid, copied.mode & 0o7777]).toEqual([1000, 1000, 0o644]);
  });

  it('sets a mode the umask would have narrowed at creation', async () => {
    const { dst, job } = setup('group-writable', 0o664);
    expect((await copyFile(job, PLAIN, new Watcher())).status).toBe('copied');
    expect(fs.statSync(path.join(dst, 'f')).mode & 0o7777).toBe(0o664);
  });

  it('copies a large file into a temporary never more open than its final mode', async () => {
    const { dst, job } = setup(Buffer.alloc(16 << 20, 1), 0o640);
    const seen: number[] = [];
    // Progress of a kernel copy is read from the temporary while it exists, so this sees it at least once.
    const progress = new Watcher(() => {
      for (const name of findTemps(dst)) seen.push(fs.statSync(path.join(dst, name)).mode & 0o7777);
    });
    expect((await copyFile(job, PLAIN, progress)).status).toBe('copied');
    expect(seen.length).toBeGreaterThan(0);
    for (const mode of seen) expect(mode & ~0o640).toBe(0);
  });

  it.runIf(process.getuid?.() === 0)('keeps the source group of a file copied into a setgid dest folder, which would hand out its own', async () => {
    const { src, dst, job } = setup('hello', 0o664);
    fs.chownSync(path.join(src, 'f'), 0, 0);
    fs.chownSync(dst, 0, 100);
    fs.chmodSync(dst, 0o2775);
    const result = await copyFile(job, { ...PLAIN, keepOwner: true }, new Watcher());
    expect(result.status).toBe('copied');
    const copied = fs.statSync(path.join(dst, 'f'));
    expect([copied.uid, copied.gid, copied.mode & 0o7777]).toEqual([0, 0, 0o664]);
  });

  it('copies an empty file', async () => {
    const { dstFile, job } = setup('');
    expect(await copyFile(job, PLAIN, new Watcher())).toEqual({ rel: 'f', status: 'copied', bytes: 0, changedSinceScan: false });
    expect(fs.readFileSync(dstFile, 'utf8')).toBe('');
  });

  it('replaces a symlink planted at the dest path instead of writing through it', async () => {
    const { dst, dstFile, job } = setup('new content');
    const outside = path.join(dst, '..', 'outside');
    fs.writeFileSync(outside, 'precious');
    fs.symlinkSync(outside, dstFile);
    expect((await copyFile(job, PLAIN, new Watcher())).status).toBe('copied');
    expect(fs.lstatSync(dstFile).isFile()).toBe(true);
    expect(fs.readFileSync(dstFile, 'utf8')).toBe('new content');
    expect(fs.readFileSync(outside, 'utf8')).toBe('precious');
  });

  it('copies again a file that changed once while it was copied, with the content and mtime it ended with', async () => {
    const { srcFile, dstFile, dst, job } = setup('first');
    let changes = 0;
    const progress = new Watcher(() => {
      if (changes++ === 0) {
        fs.appendFileSync(srcFile, ' and more');
        fs.utimesSync(srcFile, new Date(), new Date('2015-05-05T05:05:05.555Z'));
      }
    });
    expect(await copyFile(job, PLAIN, progress)).toEqual({ rel: 'f', status: 'copied', bytes: 14, changedSinceScan: true });
    expect(fs.readFileSync(dstFile, 'utf8')).toBe('first and more');
    expect(Math.abs(fs.statSync(dstFile).mtimeMs - Date.parse('2015-05-05T05:05:05.555Z'))).toBeLessThan(1);
    expect(findTemps(dst)).toEqual([]);
  });

  it('fails a file that keeps changing, keeps the old dest copy and leaves no temporary', async () => {
    const { srcFile, dstFile, dst, job } = setup('v1');
    fs.writeFileSync(dstFile, 'old copy');
    const progress = new Watcher(() => fs.appendFileSync(srcFile, '+'));
    expect(await copyFile(job, PLAIN, progress)).toEqual({ rel: 'f', status: 'failed', side: 'source', code: 'ECHANGED', message: expect.stringContaining('changed') });
    expect(fs.readFileSync(dstFile, 'utf8')).toBe('old copy');
    expect(findTemps(dst)).toEqual([]);
  });

  it('reports a file that vanished since the scan as vanished, not failed', async () => {
    const { srcFile, dst, job } = setup();
    fs.rmSync(srcFile);
    expect((await copyFile(job, PLAIN, new Watcher()))).toMatchObject({ status: 'vanished', code: 'ENOENT' });
    expect(fs.readdirSync(dst)).toEqual([]);
  });

  it('never follows a symlink found at the source path', async () => {
    const { srcFile, src, dst, job } = setup();
    fs.writeFileSync(path.join(src, 'secret'), 'secret');
    fs.rmSync(srcFile);
    fs.symlinkSync(path.join(src, 'secret'), srcFile);
    expect((await copyFile(job, PLAIN, new Watcher()))).toMatchObject({ status: 'vanished', code: 'ECHANGED' });
    expect(fs.readdirSync(dst)).toEqual([]);
  });

  it('does not wait on a FIFO found at the source path', async () => {
    const { srcFile, dst, job } = setup();
    fs.rmSync(srcFile);
    execFileSync('mkfifo', [srcFile]);
    // Safety net: if the open blocked, this writer would release it after 3 s and the time check fails
    // instead of the whole test run hanging.
    const writer = spawn(process.execPath, ['-e', `setTimeout(() => require('fs').openSync(${JSON.stringify(srcFile)}, 'w'), 3000)`], { stdio: 'ignore' });
    try {
      const started = Date.now();
      const result = await copyFile(job, PLAIN, new Watcher());
      expect(Date.now() - started).toBeLessThan(2000);
      expect(result).toMatchObject({ status: 'vanished', code: 'ECHANGED' });
      expect(fs.readdirSync(dst)).toEqual([]);
    } finally {
      writer.kill('SIGKILL');
    }
  });

  it('fails an unreadable source with its error code and leaves dest alone', async () => {
    const { src, job } = setup();
    fs.rmSync(path.join(src, 'f'));
    fs.mkdirSync(path.join(src, 'f'));
    expect((await copyFile(job, PLAIN, new Watcher()))).toMatchObject({ status: 'vanished', code: 'ECHANGED', message: expect.stringContaining('no longer a regular file') });
  });

  it.each([
    { title: 'identical content is left in place and only gets the metadata', destContent: 'same!', status: 'unchanged' },
    { title: 'different content of the same size is copied', destContent: 'other', status: 'copied' },
  ])('with --checksum, $title', async ({ destContent, status }) => {
    const { srcFile, dstFile, job } = setup('same!', 0o640);
    fs.writeFileSync(dstFile, destContent);
    const inode = fs.statSync(dstFile).ino;
    fs.utimesSync(srcFile, new Date('2020-01-01T00:00:00.250Z'), new Date('2020-01-01T00:00:00.250Z'));
    expect((await copyFile({ ...job, skipIfSameContent: true }, PLAIN, new Watcher())).status).toBe(status);
    expect(fs.readFileSync(dstFile, 'utf8')).toBe('same!');
    expect(fs.statSync(dstFile).mode & 0o777).toBe(0o640);
    expect(Math.abs(fs.statSync(dstFile).mtimeMs - Date.parse('2020-01-01T00:00:00.250Z'))).toBeLessThan(1);
    expect(fs.statSync(dstFile).ino === inode).toBe(status === 'unchanged');
  });

  it('with --verify copies and reads the copy back', async () => {
    const { srcFile, dstFile, job } = setup(Buffer.alloc(1 << 20, 9));
    expect((await copyFile(job, { verify: true, keepOwner: false, xattrs: true }, new Watcher())).status).toBe('copied');
    expect(sha256File(dstFile)).toBe(sha256File(srcFile));
  });

  it.runIf(process.getuid?.() === 0)('keeps the owner when asked (as root)', async () => {
    const { srcFile, dstFile, job } = setup('owned', 0o2750);
    fs.chownSync(srcFile, 1234, 5678);
    fs.chmodSync(srcFile, 0o2750);
    expect((await copyFile(job, { verify: false, keepOwner: true, xattrs: true }, new Watcher())).status).toBe('copied');
    const d = fs.statSync(dstFile);
    expect({ uid: d.uid, gid: d.gid, mode: d.mode & 0o7777 }).toEqual({ uid: 1234, gid: 5678, mode: 0o2750 });
  });

  it('fails when the dest folder is missing, naming the code', async () => {
    const { dst, job } = setup();
    fs.rmSync(dst, { recursive: true });
    expect(await copyFile(job, PLAIN, new Watcher())).toMatchObject({ status: 'failed', side: 'dest', code: 'ENOENT' });
  });

  it('copies a file that changed between the scan and the copy as it is now, and flags it', async () => {
    const { srcFile, dstFile, job } = setup('scanned');
    fs.appendFileSync(srcFile, ', then grown');
    expect(await copyFile(job, PLAIN, new Watcher())).toEqual({ rel: 'f', status: 'copied', bytes: 19, changedSinceScan: true });
    expect(fs.readFileSync(dstFile, 'utf8')).toBe('scanned, then grown');
  });

  it('names the source side when the source cannot be opened (the dest side is the missing-folder case above)', async () => {
    const { srcFile, job } = setup('x');
    const underAFile = rawFromUser(path.join(srcFile, 'y'));
    expect(await copyFile({ ...job, src: underAFile }, PLAIN, new Watcher())).toMatchObject({ status: 'failed', side: 'source', code: 'ENOTDIR' });
  });
});
