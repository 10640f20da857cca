/**
 * `backup assemble` from HTTP(S) sources, end to end through the built CLI, against real node:http(s)
 * servers on 127.0.0.1 that misbehave on purpose.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { windowOffsets } from '../../src/assemble/sources.js';
import { collect, runCli, startCli, type CliResult, type RunOptions } from '../helpers/cli.js';
import { makeTestCa, serveFile, startProxy, type Misbehaviour, type ServeOptions, type TestServer } from '../helpers/http-server.js';
import { sha256File, tempDir } from '../helpers/tree.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const BLOCK = 256 * KiB;

interface SourceJson {
  source: string;
  url?: string;
  blocks: number;
  bytes: number;
  failed: number;
  dropped: boolean;
  droppedWhy: string | null;
  badBlocks: number;
}

interface Report {
  status: string;
  blocks: number;
  blocksResumed: number;
  bytesRead: number;
  sources: SourceJson[];
  skipped: { source: string; reason: string }[];
  repaired: { block: number; offset: number; from: string[]; outvoted: string[] }[];
  sha256: string | null;
}

const open: { close(): Promise<void> }[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function serve(options: ServeOptions): Promise<TestServer> {
  const server = await serveFile(options);
  open.push(server);
  return server;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** An output folder and the CLI args that assemble f.bin into it from `froms`. */
function outDir(): string {
  return tempDir('backupd-http-');
}

/** What the CLI run in progress has printed to stderr so far: a test server may wait for a note in it. */
let stderrSoFar = '';

function runWatched(args: readonly string[], options: RunOptions): Promise<CliResult> {
  stderrSoFar = '';
  const child = startCli(args, options);
  const result = collect(child);
  child.stderr?.on('data', (chunk: string) => (stderrSoFar += chunk));
  return result;
}

async function assemble(out: string, froms: readonly string[], extra: readonly string[] = [], env: NodeJS.ProcessEnv = {}) {
  const result = await runWatched(['assemble', 'f.bin', '--from', ...froms, '--block-size', String(BLOCK), '--json', ...extra], { cwd: out, env: { NO_PROXY: '', no_proxy: '', ...env } });
  if (process.env.DEBUG_HTTP !== undefined) console.log(froms, result.code, result.stderr);
  const report = result.stdout === '' ? undefined : (JSON.parse(result.stdout) as Report);
  return { ...result, report };
}

/** A byte in the middle of a block that no sample window reads: corruption there is found only later. */
function byteOutsideWindows(size: number): { byte: number; block: number } {
  const windows = windowOffsets(size);
  for (let block = 1; block < Math.ceil(size / BLOCK); block++) {
    const byte = block * BLOCK + BLOCK / 2;
    if (windows.every((w) => byte < w || byte >= w + 64 * KiB)) return { byte, block };
  }
  throw new Error('no byte outside the sample windows');
}

/** `data` with one byte flipped where the sample windows do not look. */
function corrupted(data: Buffer): { bad: Buffer; block: number } {
  const { byte, block } = byteOutsideWindows(data.length);
  const bad = Buffer.from(data);
  bad[byte] = (bad[byte] as number) ^ 0xff;
  return { bad, block };
}

/**
 * For an honest mirror: "busy" (503, Retry-After 1) for `block` until `mayServe()`, so the liar's wrong
 * bytes are surely the ones taken, whatever the speeds on a loaded machine (in the endgame an honest copy
 * of the block would otherwise race the liar's, and may win).
 */
function busyUntil(mayServe: () => boolean, block: number): ServeOptions['misbehave'] {
  const range = `bytes=${block * BLOCK}-`;
  return (request) => (request.range?.startsWith(range) === true && !mayServe() ? { kind: 'status', status: 503, retryAfter: '1' } : undefined);
}

/** A mirror serving `size` bytes with one wrong byte, and `honest` mirrors of the right bytes, busy for that block until the run notes `note(block)`. */
async function liarAndHonest(
  size: number,
  honest: number,
  note: (block: number) => string,
): Promise<{ data: Buffer; block: number; liar: TestServer; honest: TestServer[] }> {
  const data = randomBytes(size);
  const { bad, block } = corrupted(data);
  const liar = await serve({ content: bad });
  const misbehave = busyUntil(() => stderrSoFar.includes(note(block)), block);
  return { data, block, liar, honest: await Promise.all(Array.from({ length: honest }, () => serve({ content: data, misbehave }))) };
}

/** Printed once the download is over and the final hash did not match: the honest mirrors may vote. */
const REPAIR_STARTED = () => 'comparing every block with the other sources';

function rangesAsked(server: TestServer): string[] {
  return server.asked.map((a) => a.range ?? 'whole');
}

describe('backup assemble from HTTP sources', () => {
  it('builds an identical file from two HTTP mirrors and a local copy, asking for identity ranges only', async () => {
    const data = randomBytes(3 * MiB + 777);
    const a = await serve({ content: data });
    const b = await serve({ content: data, path: '/pub/f.bin' });
    const local = tempDir('backupd-http-local-');
    fs.writeFileSync(path.join(local, 'f.bin'), data);
    const out = outDir();
    const { code, report, stderr } = await assemble(out, [a.url, `${b.origin}/pub/`, local], ['--sha256', sha256(data)]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(sha256File(path.join(out, 'f.bin'))).toBe(sha256(data));
    expect(report).toMatchObject({ status: 'done', blocks: 13, sha256: sha256(data) });
    // Endgame copies that lost the race count as read too.
    expect(report?.bytesRead).toBeGreaterThanOrEqual(data.length);
    expect(report?.sources.map((s) => s.url)).toEqual([a.url, b.url, undefined]);
    expect(report?.sources.reduce((sum, s) => sum + s.blocks, 0)).toBe(13);
    for (const server of [a, b]) {
      expect(server.asked.every((q) => q.headers['accept-encoding'] === 'identity' && q.range !== undefined)).toBe(true);
    }
    expect(fs.readdirSync(out)).toEqual(['f.bin']);
  });

  it('opens at most --max-per-host connections to a host, and uses them all', async () => {
    const data = randomBytes(3 * MiB);
    const server = await serve({ content: data, bytesPerSecond: 2 * MiB });
    const out = outDir();
    const { code } = await assemble(out, [server.url], ['--max-per-host', '2']);
    expect(code).toBe(0);
    expect(sha256File(path.join(out, 'f.bin'))).toBe(sha256(data));
    expect(server.mostAtOnce()).toBe(2);
  });

  it('follows a redirect once and sends the block requests to where it led', async () => {
    const data = randomBytes(2 * MiB);
    const target = await serve({ content: data });
    const redirector = await serve({ content: data, misbehave: () => ({ kind: 'redirect', location: target.url }) });
    const out = outDir();
    const { code, report } = await assemble(out, [redirector.url]);
    expect(code).toBe(0);
    expect(sha256File(path.join(out, 'f.bin'))).toBe(sha256(data));
    expect(redirector.asked).toHaveLength(1);
    expect(report?.sources[0]?.blocks).toBe(8);
  });

  it.each<{ what: string; misbehave: Misbehaviour; note: RegExp }>([
    { what: 'ignores Range (200 with the whole file)', misbehave: { kind: 'ignore-range' }, note: /answered 200 \(the whole file\) to a range request/ },
    { what: 'sends gzip unasked', misbehave: { kind: 'gzip' }, note: /sent a gzip-encoded body though identity was asked/ },
    { what: 'answers 404', misbehave: { kind: 'status', status: 404 }, note: /HTTP 404; left out/ },
  ])('leaves out a mirror that $what and builds the file from the others', async ({ misbehave, note }) => {
    const data = randomBytes(2 * MiB + 5);
    const good = await serve({ content: data });
    const bad = await serve({ content: data, misbehave: () => misbehave });
    const out = outDir();
    const { code, report, stderr } = await assemble(out, [bad.url, good.url]);
    expect(code).toBe(0);
    expect(sha256File(path.join(out, 'f.bin'))).toBe(sha256(data));
    expect(stderr).toMatch(note);
    expect(report?.sources.map((s) => s.source)).toEqual([good.url]);
  });

  it('reads a single server that ignores Range whole, in order', async () => {
    const data = randomBytes(2 * MiB + 9);
    const server = await serve({ content: data, misbehave: () => ({ kind: 'ignore-range' }) });
    const out = outDir();
    const { code, report } = await assemble(out, [server.url], ['--sha256', sha256(data)]);
    expect(code).toBe(0);
    expect(sha256File(path.join(out, 'f.bin'))).toBe(sha256(data));
    expect(report).toMatchObject({ status: 'done', bytesRead: data.length });
  });

  it.each<{ what: string; misbehave: Misbehaviour; extra?: string[] }>([
    { what: 'a wrong Content-Range', misbehave: { kind: 'wrong-range' } },
    { what: 'a body cut off in the middle', misbehave: { kind: 'close-mid-body' } },
    { what: 'a body longer than the range', misbehave: { kind: 'long-body' } },
    { what: 'HTTP 500', misbehave: { kind: 'status', status: 500 } },
  ])('rejects blocks sent with $what and gets them from the other mirror', async ({ misbehave, extra }) => {
    const data = randomBytes(2 * MiB + 3);
    const good = await serve({ content: data });
    // The probe and the sample windows (requests 0-5) are served correctly, then every block misbehaves.
    const bad = await serve({ content: data, misbehave: (_, i) => (i >= 6 ? misbehave : undefined) });
    const out = outDir();
    const { code, report } = await assemble(out, [bad.url, good.url], [...(extra ?? []), '--sha256', sha256(data)]);
    expect(code).toBe(0);
    expect(sha256File(path.join(out, 'f.bin'))).toBe(sha256(data));
    const [badReport, goodReport] = report?.sources ?? [];
    expect(badReport).toMatchObject({ blocks: 0, dropped: true });
    expect(badReport?.failed).toBeGreaterThanOrEqual(3);
    expect(goodReport?.blocks).toBe(9);
  });

  it('gives the block of a mirror that stalls to the other one (endgame) and finishes', async () => {
    const data = randomBytes(2 * MiB + 3);
    const good = await serve({ content: data });
    const stalling = await serve({ content: data, misbehave: (_, i) => (i >= 6 ? { kind: 'stall' } : undefined) });
    const out = outDir();
    const { code, report } = await assemble(out, [stalling.url, good.url], ['--stall-timeout', '60s', '--sha256', sha256(data)]);
    expect(code).toBe(0);
    expect(sha256File(path.join(out, 'f.bin'))).toBe(sha256(data));
    expect(report?.sources.map((s) => s.blocks)).toEqual([0, 9]);
  });

  it('a mirror that stalls halfway through its blocks, after their first half was written as it arrived, loses each of them to the other mirror (endgame), and the file is exact', async () => {
    // 1 MiB blocks: the stalled attempts wrote 512 KiB early, then give their blocks up to the duplicates.
    const data = randomBytes(4 * MiB);
    const good = await serve({ content: data });
    // Only whole blocks stall: the probe and the sample windows are answered.
    const isBlock = (range: string | undefined) => {
      const [, first, last] = /bytes=(\d+)-(\d+)/.exec(range ?? '') ?? [];
      return Number(last) - Number(first) + 1 === MiB;
    };
    const stalling = await serve({ content: data, misbehave: (request) => (isBlock(request.range) ? { kind: 'stall-mid-body' } : undefined) });
    const out = outDir();
    const { code, report } = await assemble(out, [stalling.url, good.url], ['--block-size', String(MiB), '--stall-timeout', '60s', '--sha256', sha256(data)]);
    expect(code).toBe(0);
    expect(sha256File(path.join(out, 'f.bin'))).toBe(sha256(data));
    expect(report?.sources.map((s) => s.blocks)).toEqual([0, 4]);
    expect(stalling.asked.filter((request) => isBlock(request.range)).length).toBeGreaterThan(0);
  });

  it('a slow mirror still writing its block as it arrives loses it to a faster copy (endgame), whose commit lands after the early writes; the file is exact', async () => {
    // 1 MiB blocks at 256 KiB/s: the slow attempt is writing 256 KiB pieces when the other mirror's
    // duplicate commits, which waits for the piece in flight and then writes the whole block.
    const data = randomBytes(4 * MiB);
    const good = await serve({ content: data });
    const slow = await serve({ content: data, bytesPerSecond: 256 * 1024 });
    const out = outDir();
    const { code, report } = await assemble(out, [slow.url, good.url], ['--block-size', String(MiB), '--sha256', sha256(data)]);
    expect(code).toBe(0);
    expect(sha256File(path.join(out, 'f.bin'))).toBe(sha256(data));
    expect(report?.sources.map((s) => s.blocks)).toEqual([0, 4]);
  });

  it('asks a stalled server again after --stall-timeout when it is the only source', async () => {
    const data = randomBytes(MiB);
    const server = await serve({ content: data, misbehave: (_, i) => (i === 6 ? { kind: 'stall' } : undefined) });
    const out = outDir();
    const { code, report } = await assemble(out, [server.url], ['--stall-timeout', '300ms', '--sha256', sha256(data)]);
    expect(code).toBe(0);
    expect(sha256File(path.join(out, 'f.bin'))).toBe(sha256(data));
    expect(report?.sources[0]).toMatchObject({ blocks: 4, failed: 1, dropped: false });
    expect(server.asked.filter((q) => q.range === server.asked[6]?.range)).toHaveLength(2);
  });

  it('keeps what a body cut short delivered and asks only for the rest', async () => {
    const data = randomBytes(MiB);
    const server = await serve({ content: data, misbehave: (q, i) => (i === 6 ? { kind: 'close-mid-body' } : undefined) });
    const out = outDir();
    const { code, report } = await assemble(out, [server.url], ['--sha256', sha256(data)]);
    expect(code).toBe(0);
    expect(sha256File(path.join(out, 'f.bin'))).toBe(sha256(data));
    const cut = server.asked[6]?.range as string;
    const [, first, last] = /bytes=(\d+)-(\d+)/.exec(cut) as unknown as [string, string, string];
    const rest = `bytes=${Number(first) + BLOCK / 2}-${last}`;
    expect(rangesAsked(server)).toContain(rest);
    expect(report?.bytesRead).toBe(data.length);
  });

  it('with blocks big enough to be written while they arrive, a body cut short is continued where it stopped', async () => {
    // 1 MiB blocks: each is written in 256 KiB pieces as they arrive; the cut one had 512 KiB written early.
    const block = MiB;
    const data = randomBytes(4 * MiB);
    const server = await serve({ content: data, misbehave: (_, i) => (i === 6 ? { kind: 'close-mid-body' } : undefined) });
    const out = outDir();
    const result = await runWatched(['assemble', 'f.bin', '--from', server.url, '--block-size', String(block), '--sha256', sha256(data), '--json'], { cwd: out, env: { NO_PROXY: '', no_proxy: '' } });
    expect(result.code).toBe(0);
    expect(sha256File(path.join(out, 'f.bin'))).toBe(sha256(data));
    const [, first, last] = /bytes=(\d+)-(\d+)/.exec(server.asked[6]?.range as string) as unknown as [string, string, string];
    expect(rangesAsked(server)).toContain(`bytes=${Number(first) + block / 2}-${last}`);
    const report = JSON.parse(result.stdout) as Report;
    expect(report.bytesRead).toBe(data.length);
    expect(report.repaired).toEqual([]);
  });

  it.skipIf(process.getuid?.() !== 0)('on a full disk, a block written while it arrives fails the run as the output\'s error (ENOSPC), keeping the .part and its state', async () => {
    const data = randomBytes(8 * MiB);
    const server = await serve({ content: data });
    const small = outDir();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', small]);
    try {
      const result = await runWatched(['assemble', 'f.bin', '--from', server.url, '--block-size', String(MiB), '-o', path.join(small, 'f.bin')], { cwd: small, env: { NO_PROXY: '', no_proxy: '' } });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`error: ${path.join(small, 'f.bin.part')}: no space left on device (ENOSPC)`);
      expect(fs.readdirSync(small).sort()).toEqual(['f.bin.part', 'f.bin.part.state']);
    } finally {
      execFileSync('umount', [small]);
    }
  });

  it('waits as Retry-After says when a server answers 503, without dropping it', async () => {
    const data = randomBytes(MiB);
    const server = await serve({ content: data, misbehave: (_, i) => (i >= 6 && i % 2 === 0 ? { kind: 'status', status: 503, retryAfter: '1' } : undefined) });
    const out = outDir();
    const { code, report } = await assemble(out, [server.url], ['--sha256', sha256(data)]);
    expect(code).toBe(0);
    expect(sha256File(path.join(out, 'f.bin'))).toBe(sha256(data));
    expect(report?.sources[0]).toMatchObject({ blocks: 4, dropped: false });
  });

  it('starts without a mirror that is busy at the start, and lets it join once it answers', async () => {
    const data = randomBytes(2 * MiB);
    const lastBlock = `bytes=${data.length - BLOCK}-${data.length - 1}`;
    const order: string[] = [];
    // Busy for its probe, as Retry-After says: a run waiting for it would ask the others nothing until then.
    const late = await serve({ content: data, misbehave: (q, i) => (order.push(`late ${q.range}`), i === 0 ? { kind: 'status', status: 503, retryAfter: '2' } : undefined) });
    // The others answer 503 (without Retry-After) for the last block until the late mirror was asked for it.
    const lateAskedLast = () => late.asked.some((q) => q.range === lastBlock);
    const busyForLast: ServeOptions['misbehave'] = (q) => (order.push(`early ${q.range}`), q.range === lastBlock && !lateAskedLast() ? { kind: 'status', status: 503 } : undefined);
    const early = await Promise.all([serve({ content: data, misbehave: busyForLast }), serve({ content: data, misbehave: busyForLast })]);
    const out = outDir();
    const { code, report } = await assemble(out, [late.url, ...early.map((e) => e.url)], ['--sha256', sha256(data)]);
    expect(code).toBe(0);
    expect(sha256File(path.join(out, 'f.bin'))).toBe(sha256(data));
    // The first block was asked of the others before the late mirror was probed again.
    const firstBlock = order.indexOf(`early bytes=0-${BLOCK - 1}`);
    expect(firstBlock).toBeGreaterThanOrEqual(0);
    expect(firstBlock).toBeLessThan(order.indexOf('late bytes=0-0', 1));
    expect(lateAskedLast()).toBe(true);
    expect(report?.sources.map((s) => s.url)).toEqual([...early.map((e) => e.url), late.url]);
    expect(report?.sources[2]).toMatchObject({ dropped: false });
    expect(report?.sources.reduce((sum, s) => sum + s.blocks, 0)).toBe(8);
  });

  it('checks a mirror that joins late as the others were checked, and leaves it out if its bytes differ', async () => {
    const data = randomBytes(2 * MiB);
    const other = Buffer.from(data).fill(0, 0, 16);
    const busyFirst: ServeOptions['misbehave'] = (_, i) => (i === 0 ? { kind: 'status', status: 503, retryAfter: '1' } : undefined);
    const liar = await serve({ content: other, misbehave: busyFirst });
    // The others keep the last block (busy, no Retry-After) until the liar has answered its probe and its 5 sample windows.
    const lastBlock = `bytes=${data.length - BLOCK}-${data.length - 1}`;
    const untilLiarSampled: ServeOptions['misbehave'] = (q) => (q.range === lastBlock && liar.asked.filter((a) => a.answered).length < 7 ? { kind: 'status', status: 503 } : undefined);
    const honest = await Promise.all([serve({ content: data, misbehave: untilLiarSampled }), serve({ content: data, misbehave: untilLiarSampled })]);
    const out = outDir();
    const { code, report, stderr } = await assemble(out, [liar.url, ...honest.map((h) => h.url)], ['--sha256', sha256(data)]);
    expect(code).toBe(0);
    expect(sha256File(path.join(out, 'f.bin'))).toBe(sha256(data));
    expect(report?.skipped).toEqual([{ source: liar.url, reason: 'differs from the other copies in sampled regions' }]);
    expect(stderr).toContain(`${liar.url} differs from the other copies in sampled regions; left out`);
    expect(report?.sources.map((s) => s.url)).toEqual(honest.map((h) => h.url));
  });

  it('waits for a busy mirror at the start when the others alone could be outvoted', async () => {
    const data = randomBytes(2 * MiB);
    const busy = await serve({ content: data, misbehave: (_, i) => (i === 0 ? { kind: 'status', status: 503, retryAfter: '1' } : undefined) });
    const other = await serve({ content: data });
    const out = outDir();
    const { code, report } = await assemble(out, [busy.url, other.url], ['--sha256', sha256(data)]);
    expect(code).toBe(0);
    expect(sha256File(path.join(out, 'f.bin'))).toBe(sha256(data));
    // Chosen with the other, not joined later: listed in the order given.
    expect(report?.sources.map((s) => s.url)).toEqual([busy.url, other.url]);
  });

  it('drops a mirror whose file changed mid-run (new ETag) and finishes from the other', async () => {
    const data = randomBytes(3 * MiB);
    const changed = Buffer.from(data).fill(0, 0, 10);
    const good = await serve({ content: data, bytesPerSecond: 4 * MiB });
    let requests = 0;
    const fickle = await serve({
      content: () => (requests++ < 8 ? data : changed),
      etag: () => (requests <= 8 ? '"v1"' : '"v2"'),
    });
    const out = outDir();
    const { code, report, stderr } = await assemble(out, [fickle.url, good.url], ['--sha256', sha256(data)]);
    expect(code).toBe(0);
    expect(sha256File(path.join(out, 'f.bin'))).toBe(sha256(data));
    expect(stderr).toContain(`source ${fickle.url} dropped: changed since the start (new ETag)`);
    expect(report?.sources[0]).toMatchObject({ dropped: true, droppedWhy: expect.stringContaining('new ETag') as string });
  });

  it('repairs blocks a mirror served wrong, from the majority, names it, and checks again', async () => {
    const out = outDir();
    const { data, block, liar, honest } = await liarAndHonest(4 * MiB, 2, REPAIR_STARTED);
    const { code, report, stderr } = await assemble(out, [liar.url, ...honest.map((h) => h.url)], ['--sha256', sha256(data)]);
    expect(code).toBe(0);
    expect(sha256File(path.join(out, 'f.bin'))).toBe(sha256(data));
    expect(stderr).toContain('comparing every block with the other sources');
    expect(report?.repaired.map((r) => r.block)).toEqual([block]);
    expect(report?.repaired[0]?.outvoted).toEqual([liar.url]);
    expect(report?.sources[0]?.badBlocks).toBe(1);
    expect(stderr).toContain(`${liar.url} disagreed`);
  });

  it('resumes after kill -9 during an HTTP download: identical result, done blocks not fetched again', async () => {
    // 32 blocks at 256 KiB/s per connection, 8 connections: about 4 s, so a save that lists 3 done blocks comes first.
    const data = randomBytes(8 * MiB);
    const servers = await Promise.all([serve({ content: data, bytesPerSecond: 256 * KiB }), serve({ content: data, bytesPerSecond: 256 * KiB })]);
    const out = outDir();
    const args = ['assemble', 'f.bin', '--from', ...servers.map((s) => s.url), '--block-size', String(BLOCK), '--json'];
    const child = startCli(args, { cwd: out });
    const killed = collect(child);
    const state = path.join(out, 'f.bin.part.state');
    await until(() => doneBlocks(state) >= 3);
    child.kill('SIGKILL');
    await killed;
    const saved = doneList(state);
    for (const server of servers) server.asked.length = 0;
    const rerun = await assemble(out, servers.map((s) => s.url), ['--sha256', sha256(data)]);
    expect(rerun.code).toBe(0);
    expect(sha256File(path.join(out, 'f.bin'))).toBe(sha256(data));
    expect(rerun.report?.blocksResumed).toBe(saved.length);
    // Besides the probe and the sample windows, only blocks the state did not list were asked for.
    const blockRequests = servers.flatMap((s) => s.asked).flatMap((q) => {
      const [, first, last] = /^bytes=(\d+)-(\d+)$/.exec(q.range ?? '') ?? [];
      const length = Number(last) - Number(first) + 1;
      return length === 1 || length === 64 * KiB ? [] : [Math.floor(Number(first) / BLOCK)];
    });
    expect(blockRequests.filter((block) => saved.includes(block))).toEqual([]);
    expect(new Set(blockRequests).size).toBe(32 - saved.length);
    expect(fs.readdirSync(out)).toEqual(['f.bin']);
  });

  it('on resume drops a mirror whose ETag changed since the interrupted run, keeping the blocks done', async () => {
    const data = randomBytes(2 * MiB);
    let etag = '"one"';
    let dying = true;
    // The probe and the 5 sample windows, 3 blocks, then 404: the first run cannot finish.
    const fickle = await serve({ content: data, etag: () => etag, misbehave: (_, i) => (dying && i >= 9 ? { kind: 'status', status: 404 } : undefined) });
    const out = outDir();
    const first = await assemble(out, [fickle.url], ['--max-per-host', '1']);
    expect(first.code).toBe(1);
    expect(first.stderr).toContain('run the same command again to resume');
    const saved = doneBlocks(path.join(out, 'f.bin.part.state'));
    expect(saved).toBe(3);
    [etag, dying] = ['"two"', false];
    const steady = await serve({ content: data });
    const rerun = await assemble(out, [fickle.url, steady.url]);
    expect(rerun.code).toBe(0);
    expect(sha256File(path.join(out, 'f.bin'))).toBe(sha256(data));
    expect(rerun.stderr).toContain(`source ${fickle.url} dropped: its ETag changed since the interrupted run`);
    expect(rerun.report?.blocksResumed).toBe(saved);
    expect(rerun.report?.sources[0]).toMatchObject({ blocks: 0, dropped: true });
    expect(rerun.report?.sources[1]?.blocks).toBe(8 - saved);
  });

  it('sends --header values to the server and never prints them', async () => {
    const data = randomBytes(MiB);
    const server = await serve({ content: data, misbehave: (q) => (q.headers.authorization === 'Bearer s3cret-token' ? undefined : { kind: 'status', status: 401 }) });
    const out = outDir();
    const ok = await assemble(out, [server.url], ['--header', 'Authorization: Bearer s3cret-token']);
    expect(ok.code).toBe(0);
    expect(ok.stdout + ok.stderr).not.toContain('s3cret');
    const denied = await assemble(outDir(), [server.url], ['--header', 'Authorization: Bearer wrong-s3cret']);
    expect(denied.code).toBe(2);
    expect(denied.stderr).toContain('HTTP 401');
    expect(denied.stdout + denied.stderr).not.toContain('s3cret');
    const malformed = await assemble(outDir(), [server.url], ['--header', 'Authorization Bearer s3cret']);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain("--header must be 'Name: value'");
    expect(malformed.stdout + malformed.stderr).not.toContain('s3cret');
  });

  it('trusts an HTTPS server signed by a CA given in NODE_EXTRA_CA_CERTS, and refuses it without', async () => {
    const ca = makeTestCa(tempDir('backupd-ca-'));
    const data = randomBytes(MiB);
    const server = await serve({ content: data, tls: { key: ca.key, cert: ca.cert } });
    const untrusted = await assemble(outDir(), [server.url]);
    expect(untrusted.code).toBe(2);
    expect(untrusted.stderr).toMatch(/TLS: /);
    const out = outDir();
    const trusted = await assemble(out, [server.url], [], { NODE_EXTRA_CA_CERTS: ca.caFile });
    expect(trusted.code).toBe(0);
    expect(sha256File(path.join(out, 'f.bin'))).toBe(sha256(data));
  });

  it('goes through http_proxy / HTTPS_PROXY unless NO_PROXY names the host', async () => {
    const ca = makeTestCa(tempDir('backupd-ca-'));
    const data = randomBytes(MiB);
    const plain = await serve({ content: data });
    const secure = await serve({ content: data, tls: { key: ca.key, cert: ca.cert } });
    const proxy = await startProxy();
    open.push(proxy);
    const env = { http_proxy: proxy.url, HTTPS_PROXY: proxy.url, NODE_EXTRA_CA_CERTS: ca.caFile };
    const out = outDir();
    const proxied = await assemble(out, [plain.url, secure.url], [], env);
    expect(proxied.code).toBe(0);
    expect(sha256File(path.join(out, 'f.bin'))).toBe(sha256(data));
    expect(proxy.seen.some((s) => s.includes(new URL(plain.url).host))).toBe(true);
    expect(proxy.seen.some((s) => s.includes(new URL(secure.url).host))).toBe(true);
    proxy.seen.length = 0;
    const direct = await assemble(outDir(), [plain.url, secure.url], [], { ...env, NO_PROXY: '127.0.0.1', no_proxy: '127.0.0.1' });
    expect(direct.code).toBe(0);
    expect(proxy.seen).toEqual([]);
  });

  it('checks every block against the Metalink piece hashes, fetches a bad one elsewhere and blames the sender', async () => {
    const size = 2 * MiB + 100;
    const { data, block, liar, honest: [honest] } = await liarAndHonest(size, 1, (block) => `block ${block} from `);
    const pieces = Array.from({ length: Math.ceil(size / BLOCK) }, (_, i) => `<hash>${sha256(data.subarray(i * BLOCK, (i + 1) * BLOCK))}</hash>`);
    const meta4 = `<?xml version="1.0" encoding="UTF-8"?>
<metalink xmlns="urn:ietf:params:xml:ns:metalink">
  <file name="f.bin">
    <size>${size}</size>
    <hash type="sha-256">${sha256(data)}</hash>
    <pieces length="${BLOCK}" type="sha-256">${pieces.join('')}</pieces>
    <url priority="1">${liar.url}</url>
    <url priority="2">${honest?.url}</url>
  </file>
</metalink>`;
    const described = await serve({ content: Buffer.from(meta4), path: '/f.bin.meta4' });
    const out = outDir();
    const result = await runWatched(['assemble', '--metalink', described.url, '--json'], { cwd: out, env: { NO_PROXY: '', no_proxy: '' } });
    expect(result.code).toBe(0);
    expect(sha256File(path.join(out, 'f.bin'))).toBe(sha256(data));
    const report = JSON.parse(result.stdout) as Report;
    expect(report.sources.map((s) => s.url)).toEqual([liar.url, honest?.url]);
    expect(report.sources[0]).toMatchObject({ badBlocks: 1, failed: 1, dropped: false });
    expect(report.repaired).toEqual([]);
    expect(result.stderr).toContain(`block ${block} from ${liar.url} does not match its piece hash`);
  });

  it('looks the sha256 up in a --checksums list and repairs against it', async () => {
    const out = outDir();
    const { data, block, liar, honest } = await liarAndHonest(2 * MiB, 2, REPAIR_STARTED);
    const servers = [liar, ...honest];
    const sums = path.join(tempDir('backupd-sums-'), 'SHA256SUMS');
    fs.writeFileSync(sums, `${sha256(Buffer.from('other'))}  other.iso\n${sha256(data)} *f.bin\n`);
    const { code, report } = await assemble(out, servers.map((s) => s.url), ['--checksums', sums]);
    expect(code).toBe(0);
    expect(sha256File(path.join(out, 'f.bin'))).toBe(sha256(data));
    expect(report?.repaired.map((r) => r.block)).toEqual([block]);
    const conflict = await assemble(outDir(), servers.map((s) => s.url), ['--checksums', sums, '--sha256', 'ab'.repeat(32)]);
    expect(conflict.code).toBe(2);
    expect(conflict.stderr).toContain('--sha256 and --checksums name different sha256 values');
  });

  it.each([
    { what: 'an unsupported URL scheme', args: ['--from', 'ftp://example.com/f.bin'], message: 'only http://, https:// and s3:// URLs are supported' },
    { what: 'a bad --stall-timeout', args: ['--from', 'http://127.0.0.1:9/f.bin', '--stall-timeout', 'soon'], message: 'must be a duration' },
    { what: 'a --header that would override Range', args: ['--from', 'http://127.0.0.1:9/f.bin', '--header', 'Range: bytes=0-'], message: '--header Range cannot be set' },
  ])('exits 2 on $what', async ({ args, message }) => {
    const out = outDir();
    const result = await runCli(['assemble', 'f.bin', ...args], { cwd: out });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(fs.readdirSync(out)).toEqual([]);
  });
});

function doneList(stateFile: string): number[] {
  try {
    const state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { done: [number, number][] };
    return state.done.flatMap(([first, last]) => Array.from({ length: last - first + 1 }, (_, i) => first + i));
  } catch {
    return [];
  }
}

function doneBlocks(stateFile: string): number {
  return doneList(stateFile).length;
}

async function until(condition: () => boolean, deadlineMs = 30_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
