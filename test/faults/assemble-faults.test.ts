/** `backup assemble` under power loss (kill -9 at many points) and on a full disk that later gets space. */
import { randomBytes, createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, startCli } from '../helpers/cli.js';
import { sha256File, tempDir } from '../helpers/tree.js';
import { killHard, mountTmpfs, resizeTmpfs, until } from './support.js';

const MiB = 1 << 20;

interface Mirrors {
  readonly dirs: string[];
  readonly out: string;
  readonly sha256: string;
}

function makeMirrors(size: number, count: number, out?: string): Mirrors {
  const root = tempDir('backupd-assemble-faults-');
  const data = randomBytes(size);
  const dirs = Array.from({ length: count }, (_, i) => path.join(root, `m${i}`));
  for (const dir of dirs) {
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'f.bin'), data);
  }
  const outDir = out ?? path.join(root, 'out');
  fs.mkdirSync(outDir, { recursive: true });
  return { dirs, out: outDir, sha256: createHash('sha256').update(data).digest('hex') };
}

/** Blocks the resume state lists as done (0 while there is none). */
function doneBlocks(stateFile: string): number {
  try {
    const state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { done: [number, number][] };
    return state.done.reduce((sum, [first, last]) => sum + last - first + 1, 0);
  } catch {
    return 0;
  }
}

interface Report {
  readonly status: string;
  readonly blocksResumed: number;
  readonly bytesRead: number;
  readonly sha256: string;
}

const SIZE = 32 * MiB;

/** Bytes of the .part that are written (it is sparse until its blocks arrive). */
function writtenBytes(part: string): number {
  try {
    return fs.statSync(part).blocks * 512;
  } catch {
    return -1;
  }
}

describe('power loss during assemble', () => {
  // By how much of the .part is written: the start (just created), spread over the middle, and the end
  // (every block written: the fsync, hash and rename are next).
  it.each([0, 0.1, 0.25, 0.4, 0.55, 0.7, 0.85, 1])('after kill -9 with %d of the .part written, a rerun resumes and is byte-identical', async (fraction) => {
    const m = makeMirrors(SIZE, 2);
    const output = path.join(m.out, 'f.bin');
    const base = ['assemble', 'f.bin', '--from', ...m.dirs, '--block-size', '1MiB', '-o', output, '--json'];
    const child = startCli([...base, '--limit-rate', '32MiB']);
    let gone = false;
    child.once('exit', () => (gone = true));
    await until(() => gone || writtenBytes(`${output}.part`) >= fraction * SIZE, `${fraction} of the .part written`, 30_000, 1);
    await killHard(child);
    if (fs.existsSync(output)) {
      // The run got to its end before the kill: the final name holds the complete file.
      expect(sha256File(output)).toBe(m.sha256);
      return;
    }
    const resumable = doneBlocks(`${output}.part.state`);

    const rerun = await runCli(base);
    expect(rerun.code).toBe(0);
    const report = JSON.parse(rerun.stdout) as Report;
    expect(report.blocksResumed).toBeGreaterThanOrEqual(resumable);
    expect(report.bytesRead).toBe(SIZE - report.blocksResumed * MiB);
    expect(sha256File(output)).toBe(m.sha256);
    expect(fs.readdirSync(m.out)).toEqual(['f.bin']);
  });
});

describe('assemble on a full disk', () => {
  it('stops with ENOSPC naming the .part, keeps it and its state, and resumes to an identical file once space is freed', async () => {
    const root = tempDir('backupd-assemble-full-');
    const small = path.join(root, 'small');
    mountTmpfs(small, '4m');
    const m = makeMirrors(12 * MiB, 2, path.join(small));
    const output = path.join(small, 'f.bin');
    const base = ['assemble', 'f.bin', '--from', ...m.dirs, '--block-size', '256k', '-o', output, '--json'];

    const full = await runCli(base);
    expect(full.code).toBe(1);
    expect(full.stderr).toContain(`${output}.part: no space left on device (ENOSPC)`);
    expect(fs.readdirSync(small).sort()).toEqual(['f.bin.part', 'f.bin.part.state']);
    // The last save may itself have met the full disk: then an earlier state stands (resume reads more again).
    const saved = doneBlocks(`${output}.part.state`);

    resizeTmpfs(small, '32m');
    const rerun = await runCli(base);
    expect(rerun.code).toBe(0);
    const report = JSON.parse(rerun.stdout) as Report;
    expect(report.blocksResumed).toBe(saved);
    expect(report.bytesRead).toBe(12 * MiB - saved * 256 * 1024);
    expect(sha256File(output)).toBe(m.sha256);
    expect(fs.readdirSync(small)).toEqual(['f.bin']);
  });
});
