/**
 * Power loss: kill -9 at many points of a run, then check what dest holds at final names, and that a
 * rerun converges to an exact copy and leaves no temporaries.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli } from '../helpers/cli.js';
import { findTemps, snapshot, tempDir } from '../helpers/tree.js';
import { WatchDaemon } from '../watch/daemon.js';
import { expectFinalFilesComplete, hashTree, killHard, patterned, until } from './support.js';

const SMALL_FOLDERS = 8;
const SMALL_PER_FOLDER = 60;
const BIG_FILES = 3;
const BIG_SIZE = 10 << 20;
const STALE_FILES = 600;

interface Fixture {
  readonly source: string;
  /** dest as the killed run finds it: the stale files that --delete removes. */
  readonly destTemplate: string;
  readonly versions: Map<string, string[]>;
}

function makeFixture(root: string): Fixture {
  const source = path.join(root, 'src');
  for (let d = 0; d < SMALL_FOLDERS; d++) {
    const folder = path.join(source, 'small', `d${d}`);
    fs.mkdirSync(folder, { recursive: true });
    for (let f = 0; f < SMALL_PER_FOLDER; f++) fs.writeFileSync(path.join(folder, `f${f}.txt`), patterned(1000 + ((d * 131 + f * 17) % 7000), d * 1000 + f));
  }
  fs.mkdirSync(path.join(source, 'big'));
  for (let b = 0; b < BIG_FILES; b++) fs.writeFileSync(path.join(source, 'big', `large${b}.bin`), patterned(BIG_SIZE, 77 + b));
  const destTemplate = path.join(root, 'dest-template');
  fs.mkdirSync(path.join(destTemplate, 'stale'), { recursive: true });
  for (let s = 0; s < STALE_FILES; s++) fs.writeFileSync(path.join(destTemplate, 'stale', `old${s}`), `stale ${s}`);
  const versions = new Map([...hashTree(source)].map(([rel, hash]) => [rel, [hash]]));
  return { source, destTemplate, versions };
}

function sha256(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

function freshDest(fixture: Fixture, name: string): string {
  const dest = path.join(path.dirname(fixture.source), name);
  execFileSync('cp', ['-a', fixture.destTemplate, dest]);
  return dest;
}

function count(folder: string): number {
  try {
    return fs.readdirSync(folder).length;
  } catch {
    return 0;
  }
}

/** The size of the temporary of a large file being written, 0 while there is none. */
function bigTempSize(dest: string): number {
  try {
    const temp = fs.readdirSync(path.join(dest, 'big')).find((name) => name.endsWith('.backupd-tmp'));
    return temp === undefined ? 0 : fs.statSync(path.join(dest, 'big', temp)).size;
  } catch {
    return 0;
  }
}

/** Where to kill: a fraction of a measured full run, or the moment dest shows a given state. */
type KillPoint = { readonly name: string } & ({ readonly fraction: number } | { readonly when: (dest: string) => boolean });

async function killAt(child: ChildProcess, dest: string, point: KillPoint, fullRunMs = 0): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  if ('fraction' in point) {
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, fullRunMs * point.fraction))]);
  } else {
    let done = false;
    void exited.then(() => (done = true));
    await until(() => done || point.when(dest), point.name, 20_000, 1);
  }
  await killHard(child);
}

async function expectRerunConverges(source: string, dest: string): Promise<void> {
  const rerun = await runCli([source, dest, '--delete', '--quiet']);
  expect(rerun.stderr).toBe('');
  expect(rerun.code).toBe(0);
  expect(findTemps(dest)).toEqual([]);
  expect(snapshot(dest)).toEqual(snapshot(source));
}

describe('power loss during backup', () => {
  let fixture: Fixture;
  let fullRunMs = 0;

  let root: string;

  beforeAll(async () => {
    // Shared by every kill point (tempDir() would remove it after the first test).
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'backupd-power-'));
    fixture = makeFixture(root);
    const dest = freshDest(fixture, 'measure');
    const started = Date.now();
    const result = await runCli([fixture.source, dest, '--delete', '--quiet']);
    fullRunMs = Date.now() - started;
    expect(result.code).toBe(0);
    fs.rmSync(dest, { recursive: true });
  });

  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  const observed: KillPoint[] = [
    { name: 'the first folder is created', when: (d) => count(path.join(d, 'small')) > 0 },
    { name: 'the first small file is in place', when: (d) => count(path.join(d, 'small/d0')) > 0 },
    { name: 'a third of one folder is copied', when: (d) => count(path.join(d, 'small/d5')) >= SMALL_PER_FOLDER / 3 },
    { name: 'a large file is being written', when: (d) => bigTempSize(d) > 0 },
    { name: 'a large file is half written', when: (d) => bigTempSize(d) >= BIG_SIZE / 2 },
    { name: 'a large file is almost written (its rename is next)', when: (d) => bigTempSize(d) >= BIG_SIZE - (1 << 20) },
    { name: 'the first large file is renamed into place', when: (d) => count(path.join(d, 'big')) > 0 && fs.existsSync(path.join(d, 'big/large0.bin')) },
    { name: 'the delete phase has started', when: (d) => count(path.join(d, 'stale')) < STALE_FILES },
  ];
  // The rest spread evenly over the measured run (start-up and scan at the low end, deletes at the top).
  const timed: KillPoint[] = Array.from({ length: 14 }, (_, i) => ({ name: `${(i + 1) * 7}% of a full run`, fraction: ((i + 1) * 7) / 100 }));

  it.each([...observed, ...timed])(
    'after kill -9 when $name, dest holds only complete files and a rerun converges',
    async (point) => {
      const dest = freshDest(fixture, 'dest');
      try {
        const child = startCli([fixture.source, dest, '--delete', '--quiet']);
        await killAt(child, dest, point, fullRunMs);
        expectFinalFilesComplete(dest, fixture.versions);
        // Stale files are either gone or intact: a delete never leaves something half-removed at a name.
        for (const name of fs.existsSync(path.join(dest, 'stale')) ? fs.readdirSync(path.join(dest, 'stale')) : []) {
          expect(fs.readFileSync(path.join(dest, 'stale', name), 'utf8')).toBe(`stale ${name.slice(3)}`);
        }
        await expectRerunConverges(fixture.source, dest);
      } finally {
        fs.rmSync(dest, { recursive: true, force: true });
      }
    },
  );
});

describe('power loss during watch', () => {
  it('after kill -9 of the daemon in its initial sync and mid-sync of changes, a rerun converges', async () => {
    const fixture = makeFixture(tempDir('backupd-power-watch-'));
    const { source } = fixture;
    const dest = freshDest(fixture, 'dest');

    // In the initial sync, while large files are being written.
    const first = new WatchDaemon([source, dest, '--delete', '--settle', '50']);
    await killAt(first.child, dest, { name: 'a large file in the initial sync', when: (d) => bigTempSize(d) >= BIG_SIZE / 3 });
    expectFinalFilesComplete(dest, fixture.versions);

    // Mid-sync of a batch of changes: new versions of the large files and new small files.
    const second = await WatchDaemon.started([source, dest, '--delete', '--settle', '50']);
    const versions = new Map([...fixture.versions].map(([rel, hashes]) => [rel, [...hashes]]));
    const changes = new Map<string, Buffer>();
    for (let f = 0; f < 300; f++) changes.set(`new/n${f}`, patterned(3000, f));
    for (let b = 0; b < BIG_FILES; b++) changes.set(`big/large${b}.bin`, patterned(BIG_SIZE, 900 + b));
    for (const [rel, content] of changes) versions.set(rel, [...(versions.get(rel) ?? []), sha256(content)]);
    fs.mkdirSync(path.join(source, 'new'));
    for (const [rel, content] of changes) fs.writeFileSync(path.join(source, rel), content);
    await killAt(second.child, dest, { name: 'the changes being copied', when: (d) => count(path.join(d, 'new')) > 0 || bigTempSize(d) > 0 });
    expectFinalFilesComplete(dest, versions);

    // Once more, as soon as the new folder shows up in dest.
    const third = new WatchDaemon([source, dest, '--delete', '--settle', '50']);
    await killAt(third.child, dest, { name: 'the re-sync arriving at the large files', when: (d) => bigTempSize(d) > 0 });
    expectFinalFilesComplete(dest, versions);

    await expectRerunConverges(source, dest);
  });
});
