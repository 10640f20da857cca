/** `backup <src> <dest> --snapshot` end to end: contents, shared inodes, history untouched, dest rules. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { listing } from '../helpers/backup.js';
import { snapshot, tempDir, writeTree } from '../helpers/tree.js';
import { expectLatestIsNewest, inodeOf, leftovers, snapshotNames, snapshotPath, snapshotRun } from './support.js';

const OLD = new Date('2024-03-01T10:00:00Z');
/** Tree keys byte for byte: the tree holds a name that is not UTF-8. */
const RAW = { rawNames: true };

describe('backup --snapshot', () => {
  it('keeps every snapshot exactly as the source was, through changes, deletions and metadata-only changes', async () => {
    const root = tempDir('backupd-snap-');
    const src = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    const weird = Buffer.from('caf\xe9-\xff.txt', 'latin1').toString('latin1');
    writeTree(src, {
      'docs/a.txt': { content: 'alpha', mode: 0o644, mtime: OLD },
      'docs/b.txt': { content: 'bravo', mode: 0o640, mtime: OLD },
      'docs/deep/c.txt': 'charlie',
      'gone.txt': 'to be deleted',
      'link': { symlink: 'docs/a.txt' },
      'empty': { dir: true, mode: 0o750 },
    });
    // A name that is not UTF-8 (bytes e9, ff): kept byte for byte.
    const weirdPath = Buffer.concat([Buffer.from(`${src}/`), Buffer.from(weird, 'latin1')]);
    fs.writeFileSync(weirdPath, 'latin1 name');

    const first = await snapshotRun(src, dest);
    expect(first.snapshot).toMatchObject({ files: 5, linked: 0, copied: 5 });
    const firstTree = snapshot(src, RAW);
    const [s1] = snapshotNames(dest);
    expect(first.snapshot.name).toBe(s1);
    expect(snapshot(snapshotPath(dest, s1 as string), RAW)).toEqual(firstTree);
    expect(snapshot(path.join(dest, 'current'), RAW)).toEqual(firstTree);

    // Content change, metadata-only changes (mode; mtime), a deletion, a new file.
    fs.writeFileSync(path.join(src, 'docs/deep/c.txt'), 'charlie, changed');
    fs.chmodSync(path.join(src, 'docs/a.txt'), 0o600);
    fs.utimesSync(path.join(src, 'docs/b.txt'), new Date('2025-01-01T00:00:00Z'), new Date('2025-01-01T00:00:00Z'));
    fs.rmSync(path.join(src, 'gone.txt'));
    fs.writeFileSync(path.join(src, 'new.txt'), 'new');
    const second = await snapshotRun(src, dest, ['--delete']);
    const [, s2] = snapshotNames(dest);
    expect(second.snapshot.name).toBe(s2);
    // a.txt (mode), b.txt (mtime), c.txt (content) and new.txt are new inodes; the weird name is shared.
    expect(second.snapshot).toMatchObject({ files: 5, linked: 1, copied: 4, bytesNew: 'alpha'.length + 'bravo'.length + 'charlie, changed'.length + 3 });

    expect(snapshot(snapshotPath(dest, s2 as string), RAW)).toEqual(snapshot(src, RAW));
    expect(snapshot(path.join(dest, 'current'), RAW)).toEqual(snapshot(src, RAW));
    // The first snapshot still is the first state: modes, mtimes, the deleted file.
    expect(snapshot(snapshotPath(dest, s1 as string), RAW)).toEqual(firstTree);
    expect(fs.statSync(path.join(snapshotPath(dest, s1 as string), 'docs/a.txt')).mode & 0o777).toBe(0o644);
    expect(fs.statSync(path.join(snapshotPath(dest, s1 as string), 'docs/b.txt')).mtime).toEqual(OLD);

    // Unchanged files are one inode in current/ and both snapshots; changed ones are not.
    const rel = Buffer.from(weird, 'latin1');
    const inode = (base: string) => fs.lstatSync(Buffer.concat([Buffer.from(`${base}/`), rel])).ino;
    expect(inode(snapshotPath(dest, s1 as string))).toBe(inode(snapshotPath(dest, s2 as string)));
    expect(inode(path.join(dest, 'current'))).toBe(inode(snapshotPath(dest, s2 as string)));
    for (const changed of ['docs/a.txt', 'docs/b.txt', 'docs/deep/c.txt']) {
      expect(inodeOf(path.join(snapshotPath(dest, s1 as string), changed)), changed).not.toBe(inodeOf(path.join(snapshotPath(dest, s2 as string), changed)));
    }
    expectLatestIsNewest(dest);
    expect(leftovers(dest)).toEqual([]);
  });

  it('costs no copy for an unchanged tree: the second snapshot shares every inode with current/ and the first', async () => {
    const root = tempDir('backupd-snap-');
    const src = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    writeTree(src, { 'a/1': 'one', 'a/2': 'two', 'b/3': 'three' });
    await snapshotRun(src, dest);
    const again = await snapshotRun(src, dest);
    expect(again.filesCopied).toBe(0);
    expect(again.snapshot).toMatchObject({ files: 3, linked: 3, copied: 0, bytesNew: 0 });
    const names = snapshotNames(dest);
    expect(names).toHaveLength(2);
    for (const rel of ['a/1', 'a/2', 'b/3']) {
      const file = path.join(snapshotPath(dest, names[1] as string), rel);
      expect(fs.statSync(file).nlink, rel).toBe(3);
      expect(inodeOf(file)).toBe(inodeOf(path.join(snapshotPath(dest, names[0] as string), rel)));
    }
  });

  it('links the files of a folder moved in the source from the last snapshot instead of copying them', async () => {
    const root = tempDir('backupd-snap-');
    const src = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    const files: Record<string, string> = {};
    for (let i = 0; i < 20; i++) files[`photos/2024/img${i}.jpg`] = `image ${i} `.repeat(100);
    writeTree(src, { ...files, 'other.txt': 'x' });
    await snapshotRun(src, dest);
    fs.renameSync(path.join(src, 'photos/2024'), path.join(src, 'archive-2024'));

    const moved = await snapshotRun(src, dest, ['--delete']);
    expect(moved.bytesCopied).toBe(0);
    expect(moved.filesCopied).toBe(0);
    expect(moved.snapshot).toMatchObject({ movedLinked: 20, copied: 0, bytesNew: 0 });
    const [s1, s2] = snapshotNames(dest);
    expect(inodeOf(path.join(snapshotPath(dest, s2 as string), 'archive-2024/img7.jpg'))).toBe(inodeOf(path.join(snapshotPath(dest, s1 as string), 'photos/2024/img7.jpg')));
    expect(snapshot(snapshotPath(dest, s2 as string))).toEqual(snapshot(src));
  });

  it('a latest manifest that cannot be read is a warning: moved files are copied again, the snapshot is taken (exit 0)', async () => {
    const root = tempDir('backupd-snap-');
    const src = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    writeTree(src, { 'photos/a.jpg': 'a'.repeat(500), 'photos/b.jpg': 'b'.repeat(500) });
    await snapshotRun(src, dest);
    const [first] = snapshotNames(dest);
    const manifest = path.join(dest, '.backupd/manifests', `${first}.json.gz`);
    fs.writeFileSync(manifest, 'not gzip');
    fs.renameSync(path.join(src, 'photos'), path.join(src, 'moved'));

    const result = await runCli([src, dest, '--snapshot', '--delete', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout) as { filesCopied: number; warnings: { path: string; message: string }[]; snapshot: { movedLinked: number } };
    expect(summary.warnings).toEqual([expect.objectContaining({ path: manifest, message: expect.stringContaining(`cannot be read (incorrect header check); files moved since snapshot ${first} are copied again`) })]);
    expect(summary.filesCopied).toBe(2);
    expect(summary.snapshot.movedLinked).toBe(0);
    const [, second] = snapshotNames(dest);
    expect(snapshot(snapshotPath(dest, second as string))).toEqual(snapshot(src));
  });

  it('--dry-run --snapshot writes nothing, not even the marker', async () => {
    const root = tempDir('backupd-snap-');
    const src = path.join(root, 'src');
    writeTree(src, { f: 'x' });
    const dest = path.join(root, 'dest');
    const result = await runCli([src, dest, '--snapshot', '--dry-run']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.split('\n')[0]).toBe('copy f');
    expect(fs.existsSync(dest)).toBe(false);
  });
});

describe('which dests --snapshot and plain backups accept', () => {
  it('a plain backup into a snapshot dest exits 2 and writes nothing', async () => {
    const root = tempDir('backupd-snap-');
    const src = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    writeTree(src, { f: 'x' });
    await snapshotRun(src, dest);
    fs.writeFileSync(path.join(src, 'g'), 'y');
    const before = listing(dest);
    const result = await runCli([src, dest, '--delete']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`backup: dest ${dest} is a snapshot dest: back up into it with --snapshot (a plain backup would write beside current/ and snapshots/)\n`);
    expect(listing(dest)).toEqual(before);
  });

  it('--snapshot into a plain mirror exits 2 saying how to convert it; converted that way, nothing is copied again', async () => {
    const root = tempDir('backupd-snap-');
    const src = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    writeTree(src, { 'a/f': 'x'.repeat(1000), g: 'y' });
    expect((await runCli([src, dest])).code).toBe(0);
    const before = listing(dest);
    const refused = await runCli([src, dest, '--snapshot']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`dest ${dest} holds files but is not a snapshot dest`);
    expect(refused.stderr).toContain(`mv ${dest} ${dest}.plain && mkdir ${dest} && mv ${dest}.plain ${dest}/current`);
    expect(listing(dest)).toEqual(before);

    fs.renameSync(dest, `${dest}.plain`);
    fs.mkdirSync(dest);
    fs.renameSync(`${dest}.plain`, path.join(dest, 'current'));
    const converted = await snapshotRun(src, dest);
    expect(converted.filesCopied).toBe(0);
    expect(snapshot(snapshotPath(dest, converted.snapshot.name))).toEqual(snapshot(src));
  });

  it('a snapshot dest of a newer format is refused with exit 2', async () => {
    const root = tempDir('backupd-snap-');
    const src = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    writeTree(src, { f: 'x' });
    fs.mkdirSync(path.join(dest, '.backupd'), { recursive: true });
    fs.writeFileSync(path.join(dest, '.backupd/format'), '{"format": 99}\n');
    const result = await runCli([src, dest, '--snapshot']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('snapshot format 99 is newer than this backupd understands');
    expect(fs.readdirSync(dest)).toEqual(['.backupd']);
  });

  /** A source with one file and a config file holding one snapshot job with `fields`. */
  function configJob(fields: Record<string, unknown>) {
    const root = tempDir('backupd-snap-');
    const src = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    writeTree(src, { f: 'x' });
    const config = path.join(root, 'config.json');
    fs.writeFileSync(config, JSON.stringify({ jobs: [{ source: src, dest, snapshot: true, ...fields }] }));
    return { src, dest, config };
  }

  it('a config job with "snapshot": true backs up into a snapshot dest', async () => {
    const { dest, config } = configJob({});
    const result = await runCli(['--config', config, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout) as { snapshot: { name: string; files: number } };
    expect(summary.snapshot.files).toBe(1);
    expect(snapshotNames(dest)).toEqual([summary.snapshot.name]);
  });

  it('a config job with "keep" rules prunes after each snapshot, under the same lock', async () => {
    const { src, dest, config } = configJob({ keep: { last: 2 } });
    const taken: string[] = [];
    let pruned: string[] = [];
    for (let i = 0; i < 3; i++) {
      fs.writeFileSync(path.join(src, 'f'), `version ${i}`);
      const result = await runCli(['--config', config, '--json']);
      expect(result.code, result.stderr).toBe(0);
      const summary = JSON.parse(result.stdout) as { snapshot: { name: string; pruned: string[] } };
      taken.push(summary.snapshot.name);
      pruned = summary.snapshot.pruned;
    }
    expect(pruned).toEqual([taken[0]]);
    expect(snapshotNames(dest)).toEqual(taken.slice(1));
    expect(fs.readdirSync(path.join(dest, '.backupd/manifests')).filter((f) => f.startsWith(`${taken[0]}.`))).toEqual([]);
  });
});
