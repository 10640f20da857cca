import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, startCli, collect } from '../helpers/cli.js';
import { makeSnapshotDest, snapshotFolderNames } from '../helpers/snapshot-dest.js';
import { snapshot, tempDir } from '../helpers/tree.js';

interface PruneJson {
  dryRun: boolean;
  kept: { name: string; reasons: string[] }[];
  removed: { name: string }[];
  errors: unknown[];
}

async function pruneJson(args: string[], expectedCode = 0): Promise<PruneJson> {
  const result = await runCli(['prune', ...args, '--json']);
  expect(result.code, result.stderr).toBe(expectedCode);
  return JSON.parse(result.stdout) as PruneJson;
}

const NAMES = ['2025-11-30T230000Z', '2025-12-01T080000Z', '2025-12-01T090000Z', '2025-12-02T100000Z', '2025-12-02T100000Z-1'];

function fiveSnapshots(root: string): string {
  return makeSnapshotDest(path.join(root, 'dest'), Object.fromEntries(NAMES.map((n) => [n, { 'f.txt': n, [`only-${n}/x`]: 'x' }])));
}

const manifests = (dest: string) => fs.readdirSync(path.join(dest, '.backupd', 'manifests')).sort();

describe('backup prune', () => {
  it('--dry-run says why each snapshot is kept or would be removed, and removes nothing', async () => {
    const root = tempDir();
    const dest = fiveSnapshots(root);
    const before = snapshot(dest);
    const result = await runCli(['prune', dest, '--keep-last', '1', '--keep-daily', '2', '--dry-run']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(
      [
        'remove 2025-11-30T230000Z  no rule keeps it',
        'remove 2025-12-01T080000Z  no rule keeps it',
        'keep   2025-12-01T090000Z  daily 2025-12-01',
        'remove 2025-12-02T100000Z  no rule keeps it',
        'keep   2025-12-02T100000Z-1  last 1, daily 2025-12-02',
        '',
      ].join('\n'),
    );
    expect(result.stderr).toContain('2 snapshot(s) kept, 3 would be removed; nothing was removed (dry run)');
    expect(snapshot(dest)).toEqual(before);
  });

  it('removes what no rule keeps, with its manifests, and prints the JSON shape', async () => {
    const root = tempDir();
    const dest = fiveSnapshots(root);
    fs.writeFileSync(path.join(dest, '.backupd', 'manifests', `${NAMES[0]}.json.gz`), 'a companion file');
    const kept = snapshot(path.join(dest, 'snapshots', NAMES[2] as string));
    const json = await pruneJson([dest, '--keep-daily', '2']);
    expect(json).toEqual({
      dryRun: false,
      kept: [
        { name: '2025-12-01T090000Z', reasons: ['daily 2025-12-01'] },
        { name: '2025-12-02T100000Z-1', reasons: ['daily 2025-12-02'] },
      ],
      removed: [{ name: '2025-11-30T230000Z' }, { name: '2025-12-01T080000Z' }, { name: '2025-12-02T100000Z' }],
      errors: [],
    });
    expect(snapshotFolderNames(dest)).toEqual(['2025-12-01T090000Z', '2025-12-02T100000Z-1', 'latest']);
    expect(manifests(dest)).toEqual(['2025-12-01T090000Z.json', '2025-12-02T100000Z-1.json']);
    expect(snapshot(path.join(dest, 'snapshots', NAMES[2] as string))).toEqual(kept);
  });

  it('never removes the newest snapshot', async () => {
    const root = tempDir();
    const dest = fiveSnapshots(root);
    // Within one hour of the newest: only the two of 10:00 qualify; yearly 1 also keeps only the newest.
    const json = await pruneJson([dest, '--keep-within', '1h', '--keep-yearly', '1']);
    expect(json.kept.map((k) => k.name)).toEqual(['2025-12-02T100000Z', '2025-12-02T100000Z-1']);
    expect(json.kept[1]?.reasons).toEqual(['within 1h', 'yearly 2025']);
    expect(snapshotFolderNames(dest)).toContain('2025-12-02T100000Z-1');
  });

  it.each([
    { title: 'no rule', args: [], message: 'prune needs at least one keep rule' },
    { title: 'only rules of 0', args: ['--keep-last', '0', '--keep-within', '0d'], message: 'prune needs at least one keep rule' },
    { title: 'a bad count', args: ['--keep-daily', 'seven'], message: "option '--keep-daily <n>' argument 'seven' is invalid" },
    { title: 'a bad duration', args: ['--keep-within', '7 weeks'], message: "option '--keep-within <duration>' argument '7 weeks' is invalid" },
  ])('refuses $title with exit 2, removing nothing', async ({ args, message }) => {
    const root = tempDir();
    const dest = fiveSnapshots(root);
    const result = await runCli(['prune', dest, ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(snapshotFolderNames(dest)).toHaveLength(NAMES.length + 1);
  });

  it('takes the dest lock: while another live run holds it, prune exits 2 naming it and removes nothing; a dry run may still look', async () => {
    const root = tempDir();
    const dest = fiveSnapshots(root);
    const since = new Date().toISOString();
    fs.writeFileSync(path.join(dest, '.backupd', 'lock'), JSON.stringify({ pid: process.pid, host: os.hostname(), since }));
    const result = await runCli(['prune', dest, '--keep-last', '1']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`in use by pid ${process.pid} on ${os.hostname()} since ${since}`);
    expect(snapshotFolderNames(dest)).toHaveLength(NAMES.length + 1);
    expect((await pruneJson([dest, '--keep-last', '1', '--dry-run'])).removed).toHaveLength(4);
    fs.rmSync(path.join(dest, '.backupd', 'lock'));
    expect((await pruneJson([dest, '--keep-last', '1'])).removed).toHaveLength(4);
    expect(fs.existsSync(path.join(dest, '.backupd', 'lock'))).toBe(false);
  });

  it('refuses a folder without the .backupd marker', async () => {
    const root = tempDir();
    const dest = makeSnapshotDest(path.join(root, 'unmarked'), { [NAMES[0] as string]: { 'f.txt': 'f' }, [NAMES[1] as string]: {} }, { marker: false });
    const result = await runCli(['prune', dest, '--keep-last', '1']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${dest} is not a snapshot dest (no ${path.join(dest, '.backupd', 'format')})`);
    expect(snapshotFolderNames(dest)).toHaveLength(3);
  });

  it('finishes a removal that a killed prune left (a half-deleted .removing folder and its manifest)', async () => {
    const root = tempDir();
    const dest = fiveSnapshots(root);
    // The state after kill -9 between the rename and the end of the deletion.
    const gone = NAMES[0] as string;
    fs.renameSync(path.join(dest, 'snapshots', gone), path.join(dest, 'snapshots', `.${gone}.removing`));
    fs.rmSync(path.join(dest, 'snapshots', `.${gone}.removing`, 'f.txt'));
    const json = await pruneJson([dest, '--keep-last', '10']);
    expect(json.removed).toEqual([]);
    expect(json.kept).toHaveLength(4);
    expect(snapshotFolderNames(dest)).toEqual([...NAMES.slice(1), 'latest']);
    expect(manifests(dest)).not.toContain(`${gone}.json`);
  });

  it('kill -9 in the middle of removing a large snapshot: every listed snapshot stays whole, and the next prune finishes', async () => {
    const root = tempDir();
    const dest = makeSnapshotDest(path.join(root, 'dest'), { '2025-12-01T000000Z': {}, '2025-12-02T000000Z': { 'keep.txt': 'k' } });
    const big = path.join(dest, 'snapshots', '2025-12-01T000000Z');
    for (let d = 0; d < 40; d++) {
      fs.mkdirSync(path.join(big, `d${d}`));
      for (let f = 0; f < 250; f++) fs.writeFileSync(path.join(big, `d${d}`, `f${f}`), 'x');
    }
    const newest = snapshot(path.join(dest, 'snapshots', '2025-12-02T000000Z'));
    const removing = path.join(dest, 'snapshots', '.2025-12-01T000000Z.removing');
    const child = startCli(['prune', dest, '--keep-last', '1']);
    const done = collect(child);
    const deadline = Date.now() + 30_000;
    // Kill as soon as the snapshot has been renamed away and some of it deleted.
    while (!(fs.existsSync(removing) && fs.readdirSync(removing).length < 40) && Date.now() < deadline) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    child.kill('SIGKILL');
    const result = await done;
    expect(result.signal, 'the prune finished before it could be killed').toBe('SIGKILL');
    expect(fs.existsSync(removing)).toBe(true);
    expect(snapshotFolderNames(dest)).toEqual(['.2025-12-01T000000Z.removing', '2025-12-02T000000Z', 'latest']);
    expect(snapshot(path.join(dest, 'snapshots', '2025-12-02T000000Z'))).toEqual(newest);

    const json = await pruneJson([dest, '--keep-last', '1']);
    expect(json).toMatchObject({ kept: [{ name: '2025-12-02T000000Z' }], removed: [] });
    expect(snapshotFolderNames(dest)).toEqual(['2025-12-02T000000Z', 'latest']);
    expect(manifests(dest)).toEqual(['2025-12-02T000000Z.json']);
  });

  it('removes read-only folders of a snapshot as their plain owner', async () => {
    const root = tempDir();
    fs.chmodSync(root, 0o755);
    const dest = makeSnapshotDest(path.join(root, 'dest'), { '2025-12-01T000000Z': { 'ro/inner/f.txt': 'f', 'ro/g.txt': 'g' }, '2025-12-02T000000Z': {} });
    const old = path.join(dest, 'snapshots', '2025-12-01T000000Z');
    for (const p of [dest, ...fs.readdirSync(dest, { recursive: true }).map((r) => path.join(dest, r as string))]) fs.lchownSync(p, 1000, 1000);
    fs.chmodSync(path.join(old, 'ro', 'inner'), 0o555);
    fs.chmodSync(path.join(old, 'ro'), 0o500);
    const result = await runCli(['prune', dest, '--keep-last', '1'], { asUser: { uid: 1000, gid: 1000 } });
    expect(result.code, result.stderr).toBe(0);
    expect(snapshotFolderNames(dest)).toEqual(['2025-12-02T000000Z', 'latest']);
  });
});
