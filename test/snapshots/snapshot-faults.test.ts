/**
 * Snapshot runs under faults: kill -9 at every step of taking a snapshot, two runs at once, a full disk
 * while the snapshot is built, and a filesystem refusing a link (EMLINK).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { collect, runCli, startCli } from '../helpers/cli.js';
import { snapshot, tempDir, writeTree } from '../helpers/tree.js';
import { killHard, mountTmpfs, until } from '../faults/support.js';
import { expectLatestIsNewest, inodeOf, leftovers, snapshotNames, snapshotPath, snapshotRun } from './support.js';

function sourceTree(root: string): string {
  const src = path.join(root, 'src');
  const spec: Record<string, string> = {};
  for (let d = 0; d < 4; d++) for (let f = 0; f < 25; f++) spec[`d${d}/f${f}.txt`] = `folder ${d} file ${f}\n`.repeat(f + 1);
  writeTree(src, spec);
  return src;
}

/** Starts a snapshot run that stops at `point` (BACKUPD_PAUSE_AT) and resolves once it is there. */
async function startPausedAt(src: string, dest: string, point: string) {
  const child = startCli([src, dest, '--snapshot', '--quiet'], { env: { BACKUPD_PAUSE_AT: point } });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  await until(() => stderr.includes(`paused at ${point}`), `the run to pause at ${point}`, 30_000);
  return child;
}

describe('kill -9 while a snapshot is taken', () => {
  it.each(['synced', 'snapshot-half-built', 'snapshot-built', 'snapshot-manifest', 'snapshot-renamed'])(
    'at %s: earlier snapshots stay exactly as they were, and the next run completes and cleans up',
    async (point) => {
      const root = tempDir('backupd-snap-kill-');
      const src = sourceTree(root);
      const dest = path.join(root, 'dest');
      await snapshotRun(src, dest);
      const [first] = snapshotNames(dest);
      const firstTree = snapshot(snapshotPath(dest, first as string));
      fs.writeFileSync(path.join(src, 'd1/f3.txt'), 'changed before the killed run');

      const child = await startPausedAt(src, dest, point);
      await killHard(child);

      const names = snapshotNames(dest);
      // Only the rename publishes a snapshot: before it, nothing new is listed.
      expect(names.length).toBe(point === 'snapshot-renamed' ? 2 : 1);
      expect(snapshot(snapshotPath(dest, first as string))).toEqual(firstTree);
      if (point === 'snapshot-renamed') expect(snapshot(snapshotPath(dest, names[1] as string))).toEqual(snapshot(src));

      // The lock of the killed run is taken over; partial trees, temporaries and orphan manifests go.
      const rerun = await snapshotRun(src, dest);
      expect(rerun.filesFailed).toBe(0);
      expect(leftovers(dest)).toEqual([]);
      expect(snapshot(snapshotPath(dest, rerun.snapshot.name))).toEqual(snapshot(src));
      expect(snapshot(snapshotPath(dest, first as string))).toEqual(firstTree);
      expectLatestIsNewest(dest);
      const manifests = fs.readdirSync(path.join(dest, '.backupd/manifests')).map((f) => f.replace(/\.(json\.gz|stats|inodes)$/, ''));
      expect([...new Set(manifests)].sort()).toEqual(snapshotNames(dest));
    },
  );
});

describe('two runs on one dest', () => {
  it('the second exits 2 naming the holder (pid, host, since); once the holder is killed its lock is taken over', async () => {
    const root = tempDir('backupd-snap-lock-');
    const src = sourceTree(root);
    const dest = path.join(root, 'dest');
    const holder = await startPausedAt(src, dest, 'synced');

    const second = await runCli([src, dest, '--snapshot']);
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(new RegExp(`^backup: ${dest}/\\.backupd/lock: the snapshot dest is in use by pid ${holder.pid} on ${os.hostname()} since \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z; try again when it has finished\n$`));

    await killHard(holder);
    const third = await snapshotRun(src, dest);
    expect(third.filesFailed).toBe(0);
    expect(snapshotNames(dest)).toEqual([third.snapshot.name]);
    expect(fs.existsSync(path.join(dest, '.backupd/lock'))).toBe(false);
  });

  it('two runs that both find a dead lock: one takes it over, the other exits 2 naming it (never both)', async () => {
    const root = tempDir('backupd-snap-lock-');
    const src = sourceTree(root);
    const dest = path.join(root, 'dest');
    await snapshotRun(src, dest);
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    fs.writeFileSync(path.join(dest, '.backupd/lock'), JSON.stringify({ pid: dead, host: os.hostname(), since: new Date().toISOString() }));
    // Interleaved step by step: a pause at <point> ends when resume/<point> exists.
    const resume = path.join(root, 'resume');
    fs.mkdirSync(resume);
    const start = (points: string) => {
      const child = startCli([src, dest, '--snapshot', '--quiet'], { env: { BACKUPD_PAUSE_AT: points, BACKUPD_PAUSE_RESUME: resume } });
      const out = { stderr: '' };
      child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (out.stderr += chunk));
      return { child, out, exited: collect(child) };
    };
    // A has judged the lock dead and is about to remove it; B arrives and finds the lock dead too.
    const a = start('lock-takeover,lock-taken');
    await until(() => a.out.stderr.includes('paused at lock-takeover'), 'A to find the dead lock', 30_000);
    const b = start('lock-guard-wait,lock-taken');
    await until(() => b.out.stderr.includes('paused at lock-guard-wait'), 'B to wait for the takeover in progress', 30_000);
    fs.writeFileSync(path.join(resume, 'lock-guard-wait'), '');
    fs.writeFileSync(path.join(resume, 'lock-takeover'), '');

    // A holds the lock (paused right after taking it); B, after A's takeover, finds A alive.
    await until(() => a.out.stderr.includes('paused at lock-taken'), 'A to take the lock', 30_000);
    const second = await b.exited;
    expect(second.code, second.stderr).toBe(2);
    expect(second.stderr).toContain(`the snapshot dest is in use by pid ${a.child.pid} on ${os.hostname()}`);
    expect(second.stderr).not.toContain('paused at lock-taken');
    expect(JSON.parse(fs.readFileSync(path.join(dest, '.backupd/lock'), 'utf8'))).toMatchObject({ pid: a.child.pid });
    await killHard(a.child);
  });

  it('two runs started together: one snapshots, the other exits 2, and nothing is half done', async () => {
    const root = tempDir('backupd-snap-lock-');
    const src = sourceTree(root);
    const dest = path.join(root, 'dest');
    await snapshotRun(src, dest);
    const runs = await Promise.all([0, 1].map(() => collect(startCli([src, dest, '--snapshot', '--quiet']))));
    const codes = runs.map((r) => r.code).sort();
    // Both may also succeed one after the other; never may both fail, or either fail otherwise.
    expect(codes[0]).toBe(0);
    expect([0, 2]).toContain(codes[1]);
    for (const run of runs) if (run.code === 2) expect(run.stderr).toContain('the snapshot dest is in use by pid');
    expect(snapshotNames(dest)).toHaveLength(1 + runs.filter((r) => r.code === 0).length);
    expect(leftovers(dest)).toEqual([]);
  });
});

describe('a folder of the partial snapshot swapped for a symlink while it is built', () => {
  it('fails the snapshot (exit 1) without writing outside dest; the next run completes', async () => {
    const root = tempDir('backupd-snap-swap-');
    const src = sourceTree(root);
    const dest = path.join(root, 'dest');
    const outside = path.join(root, 'outside');
    fs.mkdirSync(outside);
    const resume = path.join(root, 'resume');
    fs.mkdirSync(resume);
    const child = startCli([src, dest, '--snapshot', '--json'], { env: { BACKUPD_PAUSE_AT: 'snapshot-half-built', BACKUPD_PAUSE_RESUME: resume } });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = collect(child);
    await until(() => stderr.includes('paused at snapshot-half-built'), 'the run to pause halfway through the snapshot', 30_000);
    // Half built: the four folders exist, the first one listed is filled, the others are not yet. One of
    // those becomes a symlink out of dest.
    const partial = path.join(dest, 'snapshots', fs.readdirSync(path.join(dest, 'snapshots')).find((n) => n.endsWith('.partial')) as string);
    expect(fs.readdirSync(partial).sort()).toEqual(['d0', 'd1', 'd2', 'd3']);
    const unfilled = fs.readdirSync(partial).filter((d) => fs.readdirSync(path.join(partial, d)).length === 0);
    expect(unfilled).toHaveLength(3);
    const swapped = path.join(partial, unfilled[0] as string);
    fs.rmdirSync(swapped);
    fs.symlinkSync(outside, swapped);
    fs.writeFileSync(path.join(resume, 'snapshot-half-built'), '');

    const result = await exited;
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toContain('a folder on the way is a symlink now and leads elsewhere');
    expect(fs.readdirSync(outside)).toEqual([]);
    expect(snapshotNames(dest)).toEqual([]);
    expect(leftovers(dest)).toEqual([]);
    const rerun = await snapshotRun(src, dest);
    expect(snapshot(snapshotPath(dest, rerun.snapshot.name))).toEqual(snapshot(src));
  });
});

describe('a full disk while the snapshot is built', () => {
  it('fails the snapshot with ENOSPC (exit 1), leaves no partial tree and the earlier snapshot intact; with space the next run succeeds', async () => {
    const root = tempDir('backupd-snap-full-');
    const src = sourceTree(root);
    const dest = path.join(root, 'dest');
    mountTmpfs(dest, '64m');
    await snapshotRun(src, dest);
    const [first] = snapshotNames(dest);
    const firstTree = snapshot(snapshotPath(dest, first as string));

    // tmpfs counts inodes (and links) against nr_inodes: room for the sync's one new copy, not for a tree.
    const used = Number(execFileSync('df', ['--output=iused', dest], { encoding: 'utf8' }).trim().split('\n')[1]);
    execFileSync('mount', ['-o', `remount,nr_inodes=${used + 3}`, dest]);
    fs.writeFileSync(path.join(src, 'd2/f1.txt'), 'changed while the disk is nearly full');

    const full = await snapshotRun(src, dest, [], 1);
    expect(full.filesFailed).toBe(0);
    expect(full.errors).toEqual([expect.objectContaining({ path: path.join(dest, 'snapshots'), code: 'ENOSPC', message: expect.stringContaining('snapshot not taken') })]);
    expect(full.result.stderr).toContain('snapshot not taken');
    expect(snapshotNames(dest)).toEqual([first]);
    expect(leftovers(dest)).toEqual([]);
    expect(snapshot(snapshotPath(dest, first as string))).toEqual(firstTree);
    expect(fs.readFileSync(path.join(dest, 'current/d2/f1.txt'), 'utf8')).toBe('changed while the disk is nearly full');

    execFileSync('mount', ['-o', 'remount,nr_inodes=100000', dest]);
    const rerun = await snapshotRun(src, dest);
    expect(snapshot(snapshotPath(dest, rerun.snapshot.name))).toEqual(snapshot(src));
    expect(leftovers(dest)).toEqual([]);
  });
});

describe('a link the filesystem refuses', () => {
  it('EMLINK (a file with 65,000 links on ext4): the snapshot gets a copy, counted and said in the summary', async () => {
    const root = tempDir('backupd-snap-emlink-');
    const src = path.join(root, 'src');
    writeTree(src, { 'popular.txt': 'linked too often', 'plain.txt': 'ordinary' });
    const dest = path.join(root, 'dest');
    await snapshotRun(src, dest);
    const current = path.join(dest, 'current/popular.txt');
    // Up to ext4's limit of 65,000 links (current/ and the snapshot hold two already).
    const crowd = path.join(root, 'crowd');
    fs.mkdirSync(crowd);
    for (let i = fs.statSync(current).nlink; i < 65_000; i++) fs.linkSync(current, path.join(crowd, String(i)));
    expect(() => fs.linkSync(current, path.join(crowd, 'one-more'))).toThrow(expect.objectContaining({ code: 'EMLINK' }));

    const second = await snapshotRun(src, dest, [], 0, { timeoutMs: 120_000 });
    expect(second.snapshot).toMatchObject({ files: 2, linksRefused: 1 });
    const human = await runCli([src, dest, '--snapshot']);
    expect(human.code).toBe(0);
    expect(human.stderr).toContain('1 hard link(s) refused by the filesystem (e.g. EMLINK, too many links to one file): copied instead');

    const [, s2] = snapshotNames(dest);
    const copy = path.join(snapshotPath(dest, s2 as string), 'popular.txt');
    expect(inodeOf(copy)).not.toBe(inodeOf(current));
    expect(fs.readFileSync(copy, 'utf8')).toBe('linked too often');
    expect(snapshot(snapshotPath(dest, s2 as string))).toEqual(snapshot(src));
    fs.rmSync(crowd, { recursive: true });
  });
});
