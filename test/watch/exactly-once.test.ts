/**
 * Exactly-once copies under load: a settled change is copied once, and re-scans (a new folder's, the
 * initial sync's) never copy a file that is still being written: its own settled notice copies it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/tree.js';
import { readOrUndefined, until, WatchDaemon, type LogLine } from './daemon.js';

function copiesByPath(lines: readonly LogLine[]): Map<string, number> {
  const copies = new Map<string, number>();
  for (const line of lines) if (line.event === 'copied') copies.set(line.path as string, (copies.get(line.path as string) ?? 0) + 1);
  return copies;
}

describe('backup watch, exactly once', () => {
  it('copies each file of burst-created folders once, although its folder is re-scanned while the file is written in parts', async () => {
    const root = tempDir('backupd-watch-');
    const src = path.join(root, 'src');
    const dst = path.join(root, 'dst');
    fs.mkdirSync(src);
    const settleMs = 1000;
    // At debug level every copy is logged, a re-scan's included.
    const daemon = await WatchDaemon.started([src, dst, '--settle', String(settleMs), '--log-level', 'debug']);
    const names = Array.from({ length: 100 }, (_, i) => `burst/d${i % 4}/f${i}.txt`);
    const content = new Map<string, string>();
    const writtenAt = new Map<string, number>();
    /** Pauses between two writes of a file that were long enough for that version to settle, maybe (a stalled writer). */
    const settledVersions = new Map<string, number>();
    const write = (name: string, part: string): void => {
      const file = path.join(src, name);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.appendFileSync(file, part);
      const now = Date.now();
      const last = writtenAt.get(name);
      if (last !== undefined && now - last >= settleMs * 0.9) settledVersions.set(name, (settledVersions.get(name) ?? 0) + 1);
      writtenAt.set(name, now);
      content.set(name, (content.get(name) ?? '') + part);
    };
    // The folders' own notices settle, and their re-scans run, while every file in them is still being written.
    const started = Date.now();
    for (let round = 0; Date.now() - started < settleMs * 2.5; round++) {
      for (const name of names) write(name, `${name} part ${round}\n`);
      await sleep(100);
    }
    await until(() => names.every((name) => readOrUndefined(path.join(dst, name)) === content.get(name)), 'every file in its final version', 30_000);
    // Written after the burst: a late second copy of a burst file would be logged before this one.
    fs.writeFileSync(path.join(src, 'marker'), 'm');
    await until(() => readOrUndefined(path.join(dst, 'marker')) === 'm', 'the marker');
    const copies = copiesByPath(daemon.lines);
    for (const name of names) expectCopies(copies.get(path.join(src, name)), name, settledVersions.get(name) ?? 0);
    expect((await daemon.stop()).code).toBe(0);
  });

  it('copies a file being written while a changed .backupignore restarts the watch once, when it is quiet', async () => {
    const { src, dst } = folders();
    const daemon = await WatchDaemon.started([src, dst, '--settle', String(SETTLE_MS), '--log-level', 'debug']);
    const written = await writeWithPauses(path.join(src, 'growing.txt'), () => fs.writeFileSync(path.join(src, '.backupignore'), '*.none\n'));
    await until(() => daemon.events('sync-finished').length >= 2, 'the re-sync after the .backupignore change', 30_000);
    await expectCopiedOnce(daemon, src, dst, written);
  });

  it('copies a file being written across a config reload (SIGHUP) once, when it is quiet', async () => {
    const { root, src, dst } = folders();
    const config = path.join(root, 'config.json');
    fs.writeFileSync(config, JSON.stringify({ settleMs: SETTLE_MS, jobs: [{ source: src, dest: dst }] }));
    const daemon = await WatchDaemon.started(['--config', config, '--log-level', 'debug']);
    const written = await writeWithPauses(path.join(src, 'growing.txt'), () => daemon.child.kill('SIGHUP'));
    await until(() => daemon.events('reloaded').length === 1, 'the reload', 30_000);
    await expectCopiedOnce(daemon, src, dst, written);
  });
});

const SETTLE_MS = 1000;

function folders(): { root: string; src: string; dst: string } {
  const root = tempDir('backupd-watch-');
  const src = path.join(root, 'src');
  fs.mkdirSync(src);
  return { root, src, dst: path.join(root, 'dst') };
}

interface Written {
  readonly file: string;
  readonly content: string;
  /** Pauses between two writes long enough for that version to settle, maybe (a stalled writer). */
  readonly settledVersions: number;
}

/**
 * Appends to `file` for a while with pauses shorter than the settle time, but long enough for the watch
 * to restart between two writes: the restarted watch has no notice of the file unless it takes over the
 * old one's. `restart` is called after a few writes.
 */
async function writeWithPauses(file: string, restart: () => void): Promise<Written> {
  let content = '';
  let settledVersions = 0;
  let lastWrite: number | undefined;
  const started = Date.now();
  for (let part = 0; Date.now() - started < SETTLE_MS * 3.5; part++) {
    if (part === 4) restart();
    fs.appendFileSync(file, `part ${part}\n`);
    content += `part ${part}\n`;
    const now = Date.now();
    if (lastWrite !== undefined && now - lastWrite >= SETTLE_MS * 0.9) settledVersions++;
    lastWrite = now;
    await sleep(250);
  }
  return { file, content, settledVersions };
}

async function expectCopiedOnce(daemon: WatchDaemon, src: string, dst: string, { file, content, settledVersions }: Written): Promise<void> {
  const copy = path.join(dst, path.relative(src, file));
  await until(() => readOrUndefined(copy) === content, 'the final version', 30_000);
  // Written last: a late second copy of the file would be logged before this one.
  fs.writeFileSync(path.join(src, 'marker'), 'm');
  await until(() => readOrUndefined(path.join(dst, 'marker')) === 'm', 'the marker');
  expectCopies(copiesByPath(daemon.lines).get(file), file, settledVersions);
  expect((await daemon.stop()).code).toBe(0);
}

/**
 * The final version once, plus at most one copy for each pause that may have let a version settle: a
 * pause near the settle time settles or not, depending on when the daemon reads the events.
 */
function expectCopies(copies: number | undefined, name: string, settledVersions: number): void {
  expect(copies, `copies of ${name}`).toBeGreaterThanOrEqual(1);
  expect(copies, `copies of ${name}`).toBeLessThanOrEqual(1 + settledVersions);
}
