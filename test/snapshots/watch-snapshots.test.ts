/** `backup watch --snapshot-every`: syncs into current/, keeps replaced and deleted files in versions/, snapshots. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { snapshot, tempDir, writeTree } from '../helpers/tree.js';
import { readOrUndefined, until, WatchDaemon } from '../watch/daemon.js';
import { inodeOf, snapshotNames, snapshotPath } from './support.js';

function keptVersions(dest: string, name: string): string[] {
  const folder = path.join(dest, 'versions');
  if (!fs.existsSync(folder)) return [];
  return fs.readdirSync(folder).filter((n) => n.startsWith(`${name}~`)).map((n) => path.join(folder, n));
}

describe('backup watch --snapshot-every', () => {
  it('keeps an overwritten and a deleted file in versions/ (hard links), snapshots what changed, and holds the lock', async () => {
    const root = tempDir('backupd-watch-snap-');
    const src = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    writeTree(src, { 'a.txt': 'version one', 'b.txt': 'deleted later', 'sub/c.txt': 'untouched' });
    // A version from long ago: removed by --keep-versions after the next snapshot.
    writeTree(dest, { '.backupd/format': '{"format": 1}\n', 'versions/ancient.txt~2020-01-01T000000.000Z': 'old' });

    const daemon = await WatchDaemon.started([src, dest, '--snapshot-every', '1s', '--keep-versions', '30d', '--delete', '--settle', '50']);
    await until(() => daemon.events('snapshot').length >= 1, 'the first snapshot', 20_000);
    const [first] = snapshotNames(dest);
    expect(snapshot(snapshotPath(dest, first as string))).toEqual(snapshot(src));
    expect(fs.existsSync(path.join(dest, 'versions/ancient.txt~2020-01-01T000000.000Z'))).toBe(false);

    const busy = await runCli([src, dest, '--snapshot']);
    expect(busy.code).toBe(2);
    expect(busy.stderr).toContain(`in use by pid ${daemon.child.pid}`);

    // Whole files renamed into place: the daemon never sees a half-written a.txt.
    const replace = (content: string) => {
      fs.writeFileSync(path.join(root, 'next'), content);
      fs.renameSync(path.join(root, 'next'), path.join(src, 'a.txt'));
    };
    const firstInode = inodeOf(path.join(dest, 'current/a.txt'));
    replace('version two');
    await until(() => readOrUndefined(path.join(dest, 'current/a.txt')) === 'version two', 'the overwrite in current/');
    const [keptA] = keptVersions(dest, 'a.txt');
    expect(fs.readFileSync(keptA as string, 'utf8')).toBe('version one');
    expect(inodeOf(keptA as string)).toBe(firstInode);

    fs.rmSync(path.join(src, 'b.txt'));
    await until(() => !fs.existsSync(path.join(dest, 'current/b.txt')), 'the delete in current/');
    const [keptB] = keptVersions(dest, 'b.txt');
    expect(fs.readFileSync(keptB as string, 'utf8')).toBe('deleted later');

    // The changes may land in one snapshot or in two: wait for the one that has both.
    const latest = path.join(dest, 'snapshots/latest');
    await until(() => readOrUndefined(path.join(latest, 'a.txt')) === 'version two' && !fs.existsSync(path.join(latest, 'b.txt')), 'a snapshot of the changes', 20_000);
    expect(snapshot(fs.realpathSync(latest))).toEqual(snapshot(src));
    expect(inodeOf(path.join(latest, 'sub/c.txt'))).toBe(inodeOf(path.join(snapshotPath(dest, first as string), 'sub/c.txt')));

    replace('version three');
    const latestA = () => readOrUndefined(path.join(dest, 'snapshots/latest/a.txt'));
    await until(() => latestA() === 'version three', 'a snapshot of the third version', 20_000);
    // Every version the daemon saw, once each: from the snapshots and from versions/ (same inodes).
    const versions = JSON.parse((await runCli(['versions', dest, 'a.txt', '--json'])).stdout) as { path: string }[];
    expect(versions.map((v) => fs.readFileSync(v.path, 'utf8'))).toEqual(['version one', 'version two', 'version three']);

    const stopped = await daemon.stop();
    expect(stopped.code).toBe(0);
    expect(fs.existsSync(path.join(dest, '.backupd/lock'))).toBe(false);
  });

  it('takes no snapshot for an interval in which nothing changed, and one for the next interval with a change', async () => {
    const root = tempDir('backupd-watch-snap-');
    const src = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    writeTree(src, { 'a.txt': 'one', 'sub/b.txt': 'unchanged' });
    const daemon = await WatchDaemon.started([src, dest, '--snapshot-every', '1s', '--settle', '50']);
    await until(() => daemon.events('snapshot').length >= 1, 'the first snapshot', 20_000);
    // Intervals pass with nothing changed: each says so, and none snapshots.
    await until(() => daemon.events('snapshot-skipped').length >= 2, 'two intervals without a change', 20_000);
    const [first] = snapshotNames(dest);
    expect(daemon.events('snapshot')).toHaveLength(1);
    expect(snapshotNames(dest)).toEqual([first]);
    expect(daemon.events('snapshot-skipped')[0]).toMatchObject({ path: dest, latest: first });

    fs.writeFileSync(path.join(src, 'a.txt'), 'two');
    await until(() => daemon.events('snapshot').length >= 2, 'a snapshot of the change', 20_000);
    expect(readOrUndefined(path.join(dest, 'snapshots/latest/a.txt'))).toBe('two');
    const skippedBefore = daemon.events('snapshot-skipped').length;
    await until(() => daemon.events('snapshot-skipped').length >= skippedBefore + 2, 'two more intervals without a change', 20_000);
    expect(daemon.events('snapshot')).toHaveLength(2);
    expect(snapshotNames(dest)).toHaveLength(2);
    expect((await daemon.stop()).code).toBe(0);
  });

  it('refuses --keep-versions without --snapshot-every, and a plain watch into a snapshot dest, with exit 2', async () => {
    const root = tempDir('backupd-watch-snap-');
    const src = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    writeTree(src, { f: 'x' });
    const keep = await runCli(['watch', src, dest, '--keep-versions', '7d']);
    expect(keep.code).toBe(2);
    expect(keep.stderr).toContain('--keep-versions needs --snapshot-every');
    writeTree(dest, { '.backupd/format': '{"format": 1}\n' });
    const plain = await runCli(['watch', src, dest]);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toContain(`dest ${dest} is a snapshot dest: watch it with --snapshot-every <duration>`);
    const bad = await runCli(['watch', src, dest, '--snapshot-every', 'soon']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('must be a duration');
  });
});
