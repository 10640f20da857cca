/** Full disk: dest on a small tmpfs, the source larger than the space there. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { findTemps, snapshot, tempDir } from '../helpers/tree.js';
import { WatchDaemon } from '../watch/daemon.js';
import { expectFinalFilesComplete, hashTree, mountTmpfs, patterned, resizeTmpfs, until } from './support.js';

const MiB = 1 << 20;

function sourceOf(root: string, files: number, size: number): string {
  const source = path.join(root, 'src');
  fs.mkdirSync(path.join(source, 'data'), { recursive: true });
  for (let i = 0; i < files; i++) fs.writeFileSync(path.join(source, 'data', `part${i}.bin`), patterned(size, i));
  for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(source, `note${i}.txt`), `note ${i}\n`);
  return source;
}

describe('a full dest disk', () => {
  it('stops with ENOSPC naming dest, exit 1, nothing partial, old files untouched, deletes skipped; a rerun with space succeeds', async () => {
    const root = tempDir('backupd-full-');
    const source = sourceOf(root, 6, 3 * MiB);
    // Large enough for the kernel copy (fs.copyFile), whose ENOSPC comes from another path than write().
    fs.writeFileSync(path.join(source, 'data/large.bin'), patterned(10 * MiB, 99));
    const dest = path.join(root, 'dest');
    mountTmpfs(dest, '8m');
    fs.writeFileSync(path.join(dest, 'keep.txt'), 'precious');
    fs.utimesSync(path.join(dest, 'keep.txt'), new Date(2020, 1, 1), new Date(2020, 1, 1));
    const before = snapshot(dest);

    const result = await runCli([source, dest, '--delete']);
    expect(result.code).toBe(1);
    // Named once, plainly: "<dest>/data/partN.bin: no space left on device (ENOSPC)".
    expect(result.stderr).toMatch(new RegExp(`error: ${dest}/data/\\w+\\.bin: no space left on device \\(ENOSPC\\)\n`));
    expect(result.stderr).toContain(`deletes skipped in ${dest}`);
    expect(findTemps(dest)).toEqual([]);
    expectFinalFilesComplete(dest, new Map([...hashTree(source)].map(([rel, hash]) => [rel, [hash]])));
    expect(snapshot(dest)['keep.txt']).toEqual(before['keep.txt']);

    resizeTmpfs(dest, '64m');
    const rerun = await runCli([source, dest, '--delete', '--quiet']);
    expect(rerun.code).toBe(0);
    expect(snapshot(dest)).toEqual(snapshot(source));
  });

  it('keeps the watch daemon running, retrying, until space returns, then catches up', async () => {
    const root = tempDir('backupd-full-watch-');
    const source = sourceOf(root, 1, 10 * MiB);
    const dest = path.join(root, 'dest');
    mountTmpfs(dest, '4m');
    const daemon = new WatchDaemon([source, dest, '--settle', '50']);
    await until(() => daemon.events('failed').some((l) => l.code === 'ENOSPC' && l.retryInMs !== undefined), 'an ENOSPC failure with a retry', 20_000);
    expect(findTemps(dest)).toEqual([]);
    expect(fs.existsSync(path.join(dest, 'data/part0.bin'))).toBe(false);

    // A change while the disk is still full is retried with the rest.
    fs.writeFileSync(path.join(source, 'later.txt'), 'written while full');
    resizeTmpfs(dest, '32m');
    // Caught up means all of it: the retried re-scan and the settled change run one after the other.
    const caughtUp = (): boolean => {
      try {
        expect(snapshot(dest)).toEqual(snapshot(source));
        return true;
      } catch {
        return false;
      }
    };
    await until(caughtUp, 'the catch-up', 20_000);
    expect((await daemon.stop()).code).toBe(0);
    expect(snapshot(dest)).toEqual(snapshot(source));
  });
});
