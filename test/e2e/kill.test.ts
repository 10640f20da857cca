import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { backupJson } from '../helpers/backup.js';
import { collect, startCli } from '../helpers/cli.js';
import { findTemps, sha256File, snapshot, tempDir } from '../helpers/tree.js';

const FILES = 8;
const SIZE = 32 << 20;

/** Regular files at final (non-temporary) names below `root`, relative. */
function finalFiles(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  return (fs.readdirSync(root, { recursive: true }) as string[]).filter((p) => !p.endsWith('.backupd-tmp') && fs.lstatSync(path.join(root, p)).isFile());
}

async function pollUntil<T>(probe: () => T | undefined, deadlineMs: number): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met before the deadline');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

describe('backup killed with SIGKILL', () => {
  it('never leaves a partial file at a final name, and a rerun completes and removes the temporaries', async () => {
    const root = tempDir();
    const src = path.join(root, 'src');
    fs.mkdirSync(path.join(src, 'nested'), { recursive: true });
    const block = randomBytes(SIZE);
    for (let i = 0; i < FILES; i++) {
      // Same bulk, distinct content: the first bytes differ per file.
      block.writeUInt32BE(i, 0);
      fs.writeFileSync(path.join(src, i % 2 ? `nested/big-${i}.bin` : `big-${i}.bin`), block);
    }
    const dest = path.join(root, 'dest');

    const child = startCli([src, dest, '--jobs', '2', '--quiet']);
    const done = collect(child, 60_000);
    const first = await pollUntil(() => (finalFiles(dest).length > 0 ? true : undefined), 30_000);
    child.kill('SIGKILL');
    const killed = await done;
    expect(first).toBe(true);
    expect(killed.signal).toBe('SIGKILL');

    const survivors = finalFiles(dest);
    // The kill must have landed part way, or this test proves nothing.
    expect(survivors.length < FILES || findTemps(dest).length > 0).toBe(true);
    for (const rel of survivors) expect(sha256File(path.join(dest, rel)), rel).toBe(sha256File(path.join(src, rel)));

    const rerun = await backupJson([src, dest]);
    expect(rerun.filesFailed).toBe(0);
    expect(rerun.filesCopied + rerun.filesSkipped).toBe(FILES);
    expect(findTemps(dest)).toEqual([]);
    expect(snapshot(dest)).toEqual(snapshot(src));
  });
});
