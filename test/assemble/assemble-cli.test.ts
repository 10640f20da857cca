import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { collect, runCli, startCli } from '../helpers/cli.js';
import { sha256File, tempDir } from '../helpers/tree.js';

const MiB = 1024 * 1024;

interface Mirrors {
  readonly root: string;
  readonly dirs: string[];
  readonly out: string;
  readonly sha256: string;
}

/** `count` mirror folders each holding `data` as data/f.bin, and an empty output folder. */
function makeMirrors(data: Buffer, count: number): Mirrors {
  const root = tempDir();
  const dirs = Array.from({ length: count }, (_, i) => path.join(root, `m${i}`));
  for (const dir of dirs) {
    fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'data/f.bin'), data);
  }
  const out = path.join(root, 'out');
  fs.mkdirSync(out);
  return { root, dirs, out, sha256: createHash('sha256').update(data).digest('hex') };
}

interface JsonReport {
  status: string;
  bytes: number;
  blocks: number;
  blocksResumed: number;
  bytesRead: number;
  sources: { source: string; blocks: number; bytes: number; failed: number; dropped: boolean }[];
  durationMs: number;
  sha256: string | null;
}

/** Polls the resume state until it lists at least `blocks` done blocks. */
async function waitForDoneBlocks(stateFile: string, blocks: number, deadlineMs = 20_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    try {
      const state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { done: [number, number][] };
      if (state.done.reduce((sum, [first, last]) => sum + last - first + 1, 0) >= blocks) return;
    } catch {
      // Not written yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`${stateFile} did not list ${blocks} done blocks in time`);
}

/** Whether the resume state lists `block` as done. */
function stateLists(stateFile: string, block: number): boolean {
  try {
    const state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { done: [number, number][] };
    return state.done.some(([first, last]) => first <= block && block <= last);
  } catch {
    return false;
  }
}

async function until(condition: () => boolean, deadlineMs = 30_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('backup assemble', () => {
  it.each([['4'], ['1']])('builds an identical file from 4 mirrors with -j %s, reading from several of them, and leaves nothing else', async (jobs) => {
    const m = makeMirrors(randomBytes(4 * MiB + 1000), 4);
    const result = await runCli(['assemble', 'data/f.bin', '--from', ...m.dirs, '--block-size', '64k', '-j', jobs, '--json'], { cwd: m.out });
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as JsonReport;
    expect(sha256File(path.join(m.out, 'f.bin'))).toBe(m.sha256);
    expect(report).toMatchObject({ status: 'done', bytes: 4 * MiB + 1000, blocks: 65, bytesRead: 4 * MiB + 1000, sha256: m.sha256 });
    expect(report.sources.filter((s) => s.blocks > 0).length).toBeGreaterThanOrEqual(2);
    expect(report.sources.reduce((sum, s) => sum + s.blocks, 0)).toBe(65);
    expect(report.sources.filter((s) => s.failed > 0 || s.dropped)).toEqual([]);
    expect(result.stderr).not.toContain('warning');
    expect(fs.readdirSync(m.out)).toEqual(['f.bin']);
  });

  it('succeeds from the remaining copies when one mirror lacks the file and one has another size, naming both', async () => {
    const data = randomBytes(MiB);
    const m = makeMirrors(data, 4);
    fs.rmSync(path.join(m.dirs[1] as string, 'data/f.bin'));
    fs.writeFileSync(path.join(m.dirs[2] as string, 'data/f.bin'), data.subarray(0, 1000));
    const result = await runCli(['assemble', 'data/f.bin', '--from', ...m.dirs, '-o', path.join(m.out, 'copy.bin'), '--block-size', '128k']);
    expect(result.code).toBe(0);
    expect(sha256File(path.join(m.out, 'copy.bin'))).toBe(m.sha256);
    expect(result.stderr).toContain(`${m.dirs[1]}/data/f.bin does not exist; left out`);
    expect(result.stderr).toContain(`${m.dirs[2]}/data/f.bin has 1000 bytes, the others ${MiB}; left out`);
  });

  it('finishes from the other sources when one is truncated mid-run, and names the dropped one', async () => {
    const m = makeMirrors(randomBytes(24 * MiB), 3);
    const args = ['assemble', 'data/f.bin', '--from', ...m.dirs, '--block-size', '1MiB', '--limit-rate', '12MiB', '-j', '2', '--json'];
    const child = startCli(args, { cwd: m.out });
    const done = collect(child);
    await waitForDoneBlocks(path.join(m.out, 'f.bin.part.state'), 2);
    const victim = path.join(m.dirs[1] as string, 'data/f.bin');
    fs.truncateSync(victim, MiB);
    const result = await done;
    expect(result.code).toBe(0);
    expect(sha256File(path.join(m.out, 'f.bin'))).toBe(m.sha256);
    expect(result.stderr).toContain(`source ${victim} dropped`);
    const report = JSON.parse(result.stdout) as JsonReport;
    expect(report.sources[1]).toMatchObject({ dropped: true });
    expect(report.sources[1]?.failed).toBeGreaterThanOrEqual(1);
  });

  it('accepts a matching --sha256 and, on a mismatch, exits 1 leaving neither output nor .part nor state', async () => {
    const m = makeMirrors(randomBytes(MiB), 2);
    const good = await runCli(['assemble', 'data/f.bin', '--from', ...m.dirs, '--sha256', m.sha256.toUpperCase()], { cwd: m.out });
    expect(good.code).toBe(0);
    expect(sha256File(path.join(m.out, 'f.bin'))).toBe(m.sha256);

    const wrong = 'ab'.repeat(32);
    const bad = await runCli(['assemble', 'data/f.bin', '--from', ...m.dirs, '-o', 'other.bin', '--sha256', wrong], { cwd: m.out });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`sha256 is ${m.sha256}, expected ${wrong}`);
    expect(fs.readdirSync(m.out)).toEqual(['f.bin']);
  });

  it.each([
    { what: 'no source has the file', args: (m: Mirrors) => ['assemble', 'nope.bin', '--from', ...m.dirs], message: 'no source has nope.bin' },
    { what: 'the --sha256 value is not 64 hex digits', args: (m: Mirrors) => ['assemble', 'data/f.bin', '--from', ...m.dirs, '--sha256', 'abc'], message: 'must be 64 hexadecimal digits' },
    { what: 'the block size is not a size', args: (m: Mirrors) => ['assemble', 'data/f.bin', '--from', ...m.dirs, '--block-size', 'big'], message: 'must be a size' },
    { what: 'the output folder does not exist', args: (m: Mirrors) => ['assemble', 'data/f.bin', '--from', ...m.dirs, '-o', 'no/such/f.bin'], message: 'does not exist' },
  ])('exits 2 and writes nothing when $what', async ({ args, message }) => {
    const m = makeMirrors(randomBytes(1000), 2);
    const result = await runCli(args(m), { cwd: m.out });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^backup: /);
    expect(result.stderr).toContain(message);
    expect(fs.readdirSync(m.out)).toEqual([]);
  });

  it('refuses to overwrite an existing output without --force (exit 2) and replaces it with --force', async () => {
    const m = makeMirrors(randomBytes(100_000), 2);
    fs.writeFileSync(path.join(m.out, 'f.bin'), 'old');
    const refused = await runCli(['assemble', 'data/f.bin', '--from', ...m.dirs], { cwd: m.out });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`output ${path.join(m.out, 'f.bin')} exists (use --force to replace it)`);
    expect(fs.readFileSync(path.join(m.out, 'f.bin'), 'utf8')).toBe('old');

    const forced = await runCli(['assemble', 'data/f.bin', '--from', ...m.dirs, '--force'], { cwd: m.out });
    expect(forced.code).toBe(0);
    expect(sha256File(path.join(m.out, 'f.bin'))).toBe(m.sha256);
  });

  it('leaves a .part it did not write alone unless --force is given', async () => {
    const m = makeMirrors(randomBytes(100_000), 2);
    fs.writeFileSync(path.join(m.out, 'f.bin.part'), 'a browser download');
    const refused = await runCli(['assemble', 'data/f.bin', '--from', ...m.dirs], { cwd: m.out });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`${path.join(m.out, 'f.bin.part')} exists but is not a backupd resume file`);
    expect(fs.readFileSync(path.join(m.out, 'f.bin.part'), 'utf8')).toBe('a browser download');

    const forced = await runCli(['assemble', 'data/f.bin', '--from', ...m.dirs, '--force'], { cwd: m.out });
    expect(forced.code).toBe(0);
    expect(fs.readdirSync(m.out)).toEqual(['f.bin']);
  });

  it('resumes after kill -9 with an identical result, reading only the blocks the state does not list', async () => {
    const size = 48 * MiB;
    const m = makeMirrors(randomBytes(size), 2);
    const base = ['assemble', 'data/f.bin', '--from', ...m.dirs, '--block-size', '1MiB', '--json'];
    const child = startCli([...base, '--limit-rate', '16MiB'], { cwd: m.out });
    const killed = collect(child);
    await waitForDoneBlocks(path.join(m.out, 'f.bin.part.state'), 4);
    child.kill('SIGKILL');
    expect((await killed).signal).toBe('SIGKILL');
    expect(fs.existsSync(path.join(m.out, 'f.bin.part'))).toBe(true);

    const rerun = await runCli(base, { cwd: m.out });
    expect(rerun.code).toBe(0);
    const report = JSON.parse(rerun.stdout) as JsonReport;
    expect(report.blocksResumed).toBeGreaterThanOrEqual(4);
    expect(report.bytesRead).toBe(size - report.blocksResumed * MiB);
    expect(report.bytesRead).toBeLessThan(size);
    expect(sha256File(path.join(m.out, 'f.bin'))).toBe(m.sha256);
    expect(fs.readdirSync(m.out)).toEqual(['f.bin']);
  });

  it('repairs a block one local copy had wrong, after a resume, from the two that agree, and names that copy', async () => {
    const data = randomBytes(4 * MiB);
    const m = makeMirrors(data, 3);
    // A byte no sample window reads (64 KiB at 0, ~1, ~2, ~3 MiB and the end), in block 6 of 256 KiB.
    const byte = 6 * 256 * 1024 + 1000;
    const liar = path.join(m.dirs[0] as string, 'data/f.bin');
    const bad = Buffer.from(data);
    bad[byte] = (bad[byte] as number) ^ 0xff;
    fs.writeFileSync(liar, bad);
    // A first run from the liar alone, killed once it has written block 6.
    const base = ['assemble', 'data/f.bin', '--block-size', '256k', '--json'];
    const child = startCli([...base, '--from', m.dirs[0] as string, '-j', '1', '--limit-rate', '1MiB'], { cwd: m.out });
    const killed = collect(child);
    await until(() => stateLists(path.join(m.out, 'f.bin.part.state'), 6));
    child.kill('SIGKILL');
    await killed;
    const result = await runCli([...base, '--from', ...m.dirs, '--sha256', m.sha256], { cwd: m.out });
    expect(result.code).toBe(0);
    expect(sha256File(path.join(m.out, 'f.bin'))).toBe(m.sha256);
    const report = JSON.parse(result.stdout) as JsonReport & { repaired: { block: number; outvoted: string[] }[] };
    expect(report.repaired).toMatchObject([{ block: 6, outvoted: [liar] }]);
    expect(result.stderr).toContain(`block 6 (byte ${6 * 256 * 1024}) repaired with the bytes of`);
    expect(result.stderr).toContain(`${liar} disagreed`);
    expect(fs.readdirSync(m.out)).toEqual(['f.bin']);
  });

  it('when every copy has the same wrong bytes, finds nothing to repair, exits 1 and keeps nothing', async () => {
    const data = randomBytes(MiB);
    const m = makeMirrors(data, 2);
    const bad = Buffer.from(data);
    bad[384 * 1024] = (bad[384 * 1024] as number) ^ 0xff;
    for (const dir of m.dirs) fs.writeFileSync(path.join(dir, 'data/f.bin'), bad);
    const result = await runCli(['assemble', 'data/f.bin', '--from', ...m.dirs, '--block-size', '256k', '--sha256', m.sha256], { cwd: m.out });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('comparing every block with the other sources');
    expect(result.stderr).toContain(`expected ${m.sha256}; the .part and its state were deleted`);
    expect(fs.readdirSync(m.out)).toEqual([]);
  });

  it('discards a resume state made with another block size, with a note, and starts over', async () => {
    const m = makeMirrors(randomBytes(2 * MiB), 2);
    fs.writeFileSync(path.join(m.out, 'f.bin.part'), Buffer.alloc(2 * MiB));
    fs.writeFileSync(path.join(m.out, 'f.bin.part.state'), JSON.stringify({ version: 1, size: 2 * MiB, blockSize: 4096, sample: 'x', done: [[0, 511]] }));
    const result = await runCli(['assemble', 'data/f.bin', '--from', ...m.dirs, '--block-size', '256k', '--json'], { cwd: m.out });
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('resume state discarded: it is for blocks of 4096 bytes, not 262144; starting over');
    expect((JSON.parse(result.stdout) as JsonReport).bytesRead).toBe(2 * MiB);
    expect(sha256File(path.join(m.out, 'f.bin'))).toBe(m.sha256);
  });

  const isRoot = process.getuid?.() === 0;
  it.skipIf(!isRoot)('on a full disk exits 1 naming ENOSPC and the .part, and keeps the .part and its state', async () => {
    const m = makeMirrors(randomBytes(8 * MiB), 2);
    const small = path.join(m.root, 'small');
    fs.mkdirSync(small);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', small]);
    try {
      const result = await runCli(['assemble', 'data/f.bin', '--from', ...m.dirs, '--block-size', '256k', '-o', path.join(small, 'f.bin')]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`error: ${path.join(small, 'f.bin.part')}: no space left on device (ENOSPC)`);
      expect(fs.readdirSync(small).sort()).toEqual(['f.bin.part', 'f.bin.part.state']);
    } finally {
      execFileSync('umount', [small]);
    }
  });
});
