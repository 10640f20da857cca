/**
 * Bounded memory (issue 10): a backup lists, plans and executes a batch of folders at a time, so its peak
 * RSS does not grow with the tree. A whole-tree plan held ~400 bytes per entry on top of both walked trees
 * (peak 277 MiB at 200,000 files on a quiet machine); the streaming run peaks at 189-197 MiB even at load
 * 16, most of it the V8 heaps of the main thread and the two copy threads. The million-file numbers are in bench/million.mjs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

const FILES = 200_000;
const PER_FOLDER = 1000;
const PEAK_RSS_BOUND_MIB = 250;
const MAX_RSS_PRELOAD = fileURLToPath(new URL('../helpers/max-rss.mjs', import.meta.url));

/**
 * In memory (tmpfs) where there is one: 400,000 files created and removed on a disk took over five minutes
 * on a loaded machine; on tmpfs a few seconds.
 */
function scratchFolder(): string {
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  return fs.mkdtempSync(path.join(base, 'backupd-memory-'));
}

/** Small files, each written with one call. */
function makeFiles(root: string): void {
  for (let folder = 0; folder < FILES / PER_FOLDER; folder++) {
    const dir = path.join(root, `d${folder}`);
    fs.mkdirSync(dir, { recursive: true });
    for (let i = 0; i < PER_FOLDER; i++) fs.writeFileSync(path.join(dir, `f${i}`), `${folder}/${i}\n`);
  }
}

describe('backup memory', () => {
  it(`copies ${FILES.toLocaleString('en')} files within ${PEAK_RSS_BOUND_MIB} MiB peak RSS`, { timeout: 600_000 }, async () => {
    const root = scratchFolder();
    try {
      await backUpAndCheck(root);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

async function backUpAndCheck(root: string): Promise<void> {
  const source = path.join(root, 'src');
  makeFiles(source);
  const rssFile = path.join(root, 'max-rss');

  const result = await runCli([source, path.join(root, 'dest'), '--json'], {
    env: { NODE_OPTIONS: `--import ${MAX_RSS_PRELOAD}`, MAX_RSS_OUT: rssFile },
    timeoutMs: 540_000,
  });

  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  expect(JSON.parse(result.stdout)).toMatchObject({ filesTotal: FILES, filesCopied: FILES, filesFailed: 0 });
  expect(fs.readFileSync(path.join(root, 'dest', 'd199', 'f999'), 'utf8')).toBe('199/999\n');
  const peakMiB = Number(fs.readFileSync(rssFile, 'utf8')) / 1024;
  expect(peakMiB).toBeGreaterThan(0);
  expect(peakMiB).toBeLessThan(PEAK_RSS_BOUND_MIB);
}
