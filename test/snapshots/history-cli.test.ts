/** `backup snapshots`, `backup versions`, `backup diff` end to end. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { tempDir, writeTree } from '../helpers/tree.js';
import { snapshotNames, snapshotPath, snapshotRun } from './support.js';

async function json<T>(args: readonly string[]): Promise<T> {
  const result = await runCli([...args, '--json']);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as T;
}

interface Info {
  name: string;
  time: string;
  files: number;
  bytes: number;
  uniqueBytes: number;
  failed: boolean;
}

/** Three snapshots: a.txt changes each time, b.txt never, c.txt is removed in the third, a run with a failure last. */
async function history(root: string) {
  const src = path.join(root, 'src');
  const dest = path.join(root, 'dest');
  writeTree(src, { 'a.txt': 'version one', 'b.txt': 'b'.repeat(1000), 'c.txt': 'ccc', 'x/in.txt': 'x' });
  await snapshotRun(src, dest);
  fs.writeFileSync(path.join(src, 'a.txt'), 'version two!');
  await snapshotRun(src, dest);
  fs.writeFileSync(path.join(src, 'a.txt'), 'version three');
  fs.rmSync(path.join(src, 'c.txt'));
  fs.writeFileSync(path.join(src, 'd.txt'), 'dd');
  await snapshotRun(src, dest, ['--delete']);
  // A folder in dest where the source now has a file: refused without --delete, so the run fails.
  fs.rmSync(path.join(src, 'x'), { recursive: true });
  fs.writeFileSync(path.join(src, 'x'), 'now a file');
  await snapshotRun(src, dest, [], 1);
  return { src, dest };
}

describe('backup snapshots / versions / diff', () => {
  // One history for the read-only questions (taking it costs four runs).
  let dest = '';
  let shared = '';
  beforeAll(async () => {
    shared = fs.mkdtempSync(path.join(os.tmpdir(), 'backupd-hist-'));
    dest = (await history(shared)).dest;
  });
  afterAll(() => fs.rmSync(shared, { recursive: true, force: true }));

  it('lists snapshots oldest first with files, bytes, bytes unique to each and failed runs', async () => {
    const infos = await json<Info[]>(['snapshots', dest]);
    expect(infos.map((i) => i.name)).toEqual(snapshotNames(dest));
    expect(infos.map((i) => i.time)).toEqual([...infos.map((i) => i.time)].sort());
    expect(infos.map(({ files, bytes, uniqueBytes, failed }) => ({ files, bytes, uniqueBytes, failed }))).toEqual([
      { files: 4, bytes: 11 + 1000 + 3 + 1, uniqueBytes: 11, failed: false },
      { files: 4, bytes: 12 + 1000 + 3 + 1, uniqueBytes: 12, failed: false },
      // a.txt (13) is shared with the failed run's snapshot, which kept current/ as it was.
      { files: 4, bytes: 13 + 1000 + 2 + 1, uniqueBytes: 0, failed: false },
      { files: 4, bytes: 13 + 1000 + 2 + 1, uniqueBytes: 0, failed: true },
    ]);
    const human = await runCli(['snapshots', dest]);
    expect(human.code).toBe(0);
    const lines = human.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[3]).toMatch(/^\S+ {2}\S+ \S+Z +4 files +1016 B +0 B unique {2}\(run had failures\)$/);
  });

  it('lists each distinct version of a file once, where it can be read', async () => {
    const names = snapshotNames(dest);
    const versions = await json<{ time: string; size: number; mtime: string; path: string }[]>(['versions', dest, 'a.txt']);
    expect(versions.map((v) => v.path)).toEqual(names.slice(0, 3).map((n) => path.join(snapshotPath(dest, n), 'a.txt')));
    expect(versions.map((v) => fs.readFileSync(v.path, 'utf8'))).toEqual(['version one', 'version two!', 'version three']);
    expect(versions.map((v) => v.size)).toEqual([11, 12, 13]);
    expect(versions[0]?.mtime).toBe(fs.statSync(versions[0]?.path as string).mtime.toISOString());
    // An unchanged file has one version, however many snapshots hold it.
    expect(await json<unknown[]>(['versions', dest, '/b.txt'])).toHaveLength(1);
    const none = await runCli(['versions', dest, 'never-was.txt']);
    expect(none.code).toBe(2);
    expect(none.stderr).toBe(`backup: no version of never-was.txt in ${dest}\n`);
  });

  it('diffs the two newest snapshots by default, or the ones named', async () => {
    const names = snapshotNames(dest);
    expect(await json(['diff', dest])).toEqual({ from: names[2], to: names[3], added: [], removed: [], changed: [] });
    expect(await json(['diff', dest, names[1] as string, names[2] as string])).toEqual({ from: names[1], to: names[2], added: ['d.txt'], removed: ['c.txt'], changed: ['a.txt'] });
    expect(await json(['diff', dest, names[0] as string])).toMatchObject({ to: names[3], added: ['d.txt'], removed: ['c.txt'], changed: ['a.txt'] });
    const human = await runCli(['diff', dest, names[1] as string, names[2] as string]);
    expect(human.stdout).toBe('+ d.txt\n- c.txt\n~ a.txt\n');
  });

  it('works from the snapshot folders alone when manifests are missing', async () => {
    const { dest } = await history(tempDir('backupd-hist-'));
    const withManifests = await json<Info[]>(['snapshots', dest]);
    const names = snapshotNames(dest);
    const diffBefore = await json(['diff', dest, names[0] as string, names[2] as string]);
    fs.rmSync(path.join(dest, '.backupd/manifests'), { recursive: true });
    // Only `failed` is recorded nowhere else.
    expect(await json<Info[]>(['snapshots', dest])).toEqual(withManifests.map((i) => ({ ...i, failed: false })));
    expect(await json(['diff', dest, names[0] as string, names[2] as string])).toEqual(diffBefore);
  });

  it('diffs from a snapshot folder whose manifest is damaged, saying so in a warning', async () => {
    const { dest } = await history(tempDir('backupd-hist-'));
    const names = snapshotNames(dest);
    const diffBefore = await json(['diff', dest, names[0] as string, names[2] as string]);
    const damaged = path.join(dest, '.backupd/manifests', `${names[0]}.json.gz`);
    fs.writeFileSync(damaged, 'not gzip');
    const result = await runCli(['diff', dest, names[0] as string, names[2] as string, '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual(diffBefore);
    expect(result.stderr).toBe(`backup: warning: ${damaged}: cannot be read (incorrect header check); snapshot ${names[0]} is read from its folder instead (Z_DATA_ERROR)\n`);
  });

  it.each([
    { args: ['snapshots', 'DEST/current'], message: 'is not a snapshot dest' },
    { args: ['diff', 'DEST', 'nope'], message: 'no snapshot nope in' },
    { args: ['versions', 'DEST', '../etc/passwd'], message: 'give a file path relative to the backed-up folder' },
  ])('exits 2 for $args', async ({ args, message }) => {
    const result = await runCli(args.map((a) => a.replace('DEST', dest)));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });
});
