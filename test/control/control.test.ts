/** The control plane end to end: a real `backup watch` and the client commands on its socket. Several daemon starts per test: generous timeouts for a loaded machine. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readOrUndefined, WatchDaemon } from '../watch/daemon.js';
import { cli, controlSetup, startDaemon, status, statusUntil, until, writeConfig } from './fixture.js';

const NOBODY = { uid: 65534, gid: 65534 };

describe('the control socket', { timeout: 180_000 }, () => {
  it('is 0600 in a 0700 folder, refuses a second daemon with exit 2, and is replaced when stale', async () => {
    const setup = controlSetup();
    const daemon = await startDaemon(setup, [setup.src, setup.dst]);
    expect(fs.statSync(setup.socket).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(setup.socket)).mode & 0o777).toBe(0o700);

    const second = await cli(setup, ['watch', setup.src, path.join(setup.root, 'other')]);
    expect(second.code).toBe(2);
    expect(second.stderr).toContain(`already running, pid ${daemon.child.pid}`);
    expect(fs.existsSync(path.join(setup.root, 'other'))).toBe(false);

    // kill -9 leaves the socket file behind: the next daemon replaces it.
    await daemon.stop('SIGKILL');
    expect(fs.existsSync(setup.socket)).toBe(true);
    const next = await startDaemon(setup, [setup.src, setup.dst]);
    expect((await status(setup)).report.pid).toBe(next.child.pid);
    expect((await next.stop()).code).toBe(0);
    expect(fs.existsSync(setup.socket)).toBe(false);
  });

  it('status exits 3 naming the socket when no daemon answers', async () => {
    const setup = controlSetup();
    const result = await cli(setup, ['status']);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(`no backup daemon answers on ${setup.socket}`);
    const explicit = await cli(setup, ['ctl', 'pause', '--control', path.join(setup.root, 'none.sock')]);
    expect(explicit.code).toBe(3);
    expect(explicit.stderr).toContain(path.join(setup.root, 'none.sock'));
  });
});

describe('backup status', { timeout: 180_000 }, () => {
  it('reports the last run, the last success and no failure after a clean run', async () => {
    const setup = controlSetup({ 'a.txt': 'first', 'b.txt': 'second' });
    const daemon = await startDaemon(setup, [setup.src, setup.dst]);
    const healthy = await statusUntil(setup, (s) => s.report.jobs[0]?.state === 'watching', 'watching');
    expect(healthy.code).toBe(0);
    const job = healthy.report.jobs[0];
    expect(job).toMatchObject({ source: setup.src, dest: setup.dst, pending: 0, inFlight: null, nextRetry: null, latestSnapshot: null, healthy: true });
    expect(job?.lastRun).toMatchObject({ full: true, filesCopied: 2, bytesCopied: 11, failed: [] });
    expect(Date.parse(job?.lastRun?.at ?? '')).toBeGreaterThan(0);
    expect(Date.parse(job?.lastSuccess ?? '')).toBeGreaterThanOrEqual(Date.parse(job?.lastRun?.at ?? ''));
    expect(healthy.report.downloads).toEqual([]);
    const text = await cli(setup, ['status']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`${setup.src} -> ${setup.dst}: watching`);
    expect((await daemon.stop()).code).toBe(0);
  });

  it('reports a failed path with its code and the next retry, exits 1 while failing, 0 once the retry succeeds', async () => {
    const setup = controlSetup({ 'a.txt': 'first', 'locked.txt': 'secret' });
    const locked = path.join(setup.src, 'locked.txt');
    // As root every file is readable: an unprivileged daemon meets a file it cannot read.
    execFileSync('chown', ['-R', `${NOBODY.uid}:${NOBODY.gid}`, setup.root]);
    fs.chmodSync(locked, 0o000);
    const daemon = await startDaemon(setup, [setup.src, setup.dst], { asUser: NOBODY });
    const failing = await statusUntil(setup, (s) => s.report.jobs[0]?.nextRetry !== null, 'a retry');
    expect(failing.code).toBe(1);
    const job = failing.report.jobs[0];
    expect(job?.state).toBe('retrying');
    expect(job?.healthy).toBe(false);
    // The last run is the first sync or (on a slow machine) already one of its retries.
    expect(job?.lastRun?.failed).toEqual([expect.objectContaining({ path: locked, code: 'EACCES' })]);
    expect(readOrUndefined(path.join(setup.dst, 'a.txt'))).toBe('first');
    expect(job?.nextRetry?.reason).toContain('EACCES');
    expect(Date.parse(job?.nextRetry?.at ?? '')).toBeGreaterThan(0);
    const text = await cli(setup, ['status']);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain(`failed ${locked}: permission denied (EACCES)`);

    fs.chmodSync(locked, 0o644);
    await statusUntil(setup, (s) => s.code === 0 && s.report.jobs[0]?.state === 'watching', 'the retry to succeed', 30_000);
    expect(readOrUndefined(path.join(setup.dst, 'locked.txt'))).toBe('secret');
    expect((await daemon.stop()).code).toBe(0);
  });
});

describe('backup ctl', { timeout: 180_000 }, () => {
  it('pause holds changes back (and outlives a restart) until resume; a paused job turns stale after its maxAge', async () => {
    const setup = controlSetup();
    const config = writeConfig(setup, { jobs: [{ source: setup.src, dest: setup.dst, name: 'docs', maxAge: '1s' }] });
    let daemon = await startDaemon(setup, ['--config', config]);
    const paused = await cli(setup, ['ctl', 'pause', 'docs']);
    expect(paused.stderr).toContain('paused: docs');
    fs.writeFileSync(path.join(setup.src, 'while-paused.txt'), 'held');
    const held = await statusUntil(setup, (s) => (s.report.jobs[0]?.pending ?? 0) > 0, 'the change to wait');
    expect(held.report.jobs[0]).toMatchObject({ name: 'docs', state: 'paused', paused: true });
    // Healthy while paused until the last success is older than maxAge (1 s), then stale: exit 1.
    const stale = await statusUntil(setup, (s) => s.code === 1, 'staleness');
    expect(stale.report.jobs[0]?.problems.join()).toContain('stale');
    expect(fs.existsSync(path.join(setup.dst, 'while-paused.txt'))).toBe(false);

    expect((await daemon.stop()).code).toBe(0);
    // Paused from the start: no initial sync to wait for.
    daemon = new WatchDaemon(['--settle', '100', '--config', config], { env: setup.env });
    await statusUntil(setup, (s) => s.report.jobs[0]?.state === 'paused', 'paused after the restart');
    expect(fs.existsSync(path.join(setup.dst, 'while-paused.txt'))).toBe(false);
    const refused = await cli(setup, ['ctl', 'run', 'docs']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('paused');

    expect((await cli(setup, ['ctl', 'resume', setup.src])).code).toBe(0);
    await until(() => readOrUndefined(path.join(setup.dst, 'while-paused.txt')) === 'held', 'the held change after resume', 20_000);
    await statusUntil(setup, (s) => s.code === 0, 'healthy again');
    expect((await daemon.stop()).code).toBe(0);
  });

  it('run syncs now; reload refuses a broken config (old jobs kept) and applies a good one', async () => {
    const setup = controlSetup();
    const second = path.join(setup.root, 'src2');
    fs.mkdirSync(second);
    const config = writeConfig(setup, { jobs: [{ source: setup.src, dest: setup.dst }] });
    const daemon = await startDaemon(setup, ['--config', config]);
    const unknown = await cli(setup, ['ctl', 'run', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no job named nope');

    // A change the watcher cannot see (in dest) is put right by a full run.
    fs.rmSync(path.join(setup.dst, 'a.txt'));
    expect((await cli(setup, ['ctl', 'run'])).code).toBe(0);
    await until(() => readOrUndefined(path.join(setup.dst, 'a.txt')) === 'first', 'the full run to restore a.txt', 20_000);

    writeConfig(setup, '{"jobs": [{"source": 42}]}');
    const broken = await cli(setup, ['ctl', 'reload']);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/field jobs\[0\]\.source.*keeping the running jobs/);
    expect((await status(setup)).report.jobs.map((j) => j.source)).toEqual([setup.src]);

    // The listening addresses are not rebound by a reload: it says so, applies the rest, and succeeds.
    writeConfig(setup, { http: '127.0.0.1:0', jobs: [{ source: setup.src, dest: setup.dst }, { source: second, dest: path.join(setup.root, 'dst2'), name: 'two' }] });
    const good = await cli(setup, ['ctl', 'reload']);
    expect(good.code).toBe(0);
    expect(good.stderr).toContain('reloaded: 2 job(s), 2 download(s) at once');
    expect(good.stderr).toContain('backup: note: "http" changed to 127.0.0.1:0: takes effect at the next restart; the page stays off');
    expect((await cli(setup, ['status', '--url'])).code).toBe(2);
    await statusUntil(setup, (s) => s.report.jobs.length === 2 && s.report.jobs.every((j) => j.state === 'watching'), 'both jobs watching');
    expect((await daemon.stop()).code).toBe(0);
  });
});

describe('backup log and the event stream', { timeout: 180_000 }, () => {
  it('keeps the history across a restart and streams events resumable with Last-Event-ID', async () => {
    const setup = controlSetup();
    let daemon = await startDaemon(setup, [setup.src, setup.dst]);
    const events = await openStream(setup.socket);
    fs.writeFileSync(path.join(setup.src, 'b.txt'), 'streamed');
    await until(() => events.received.find((e) => e.type === 'run-finished'), 'run-finished on the stream');
    const copied = events.received.find((e) => e.type === 'copied');
    expect(copied?.data).toMatchObject({ job: setup.src, path: path.join(setup.src, 'b.txt'), bytes: 8 });
    expect(events.received.map((e) => e.type)).toEqual(expect.arrayContaining(['run-started', 'copied', 'run-finished']));
    const lastId = events.received.at(-1)?.id as string;
    events.close();

    fs.writeFileSync(path.join(setup.src, 'c.txt'), 'missed');
    await until(() => readOrUndefined(path.join(setup.dst, 'c.txt')) === 'missed', 'c.txt');
    const resumed = await openStream(setup.socket, lastId);
    await until(() => resumed.received.find((e) => e.type === 'copied'), 'the missed events');
    expect(resumed.received.some((e) => e.id === lastId || e.data.path === path.join(setup.src, 'b.txt'))).toBe(false);
    expect(resumed.received.find((e) => e.type === 'copied')?.data.path).toBe(path.join(setup.src, 'c.txt'));
    resumed.close();

    expect((await daemon.stop()).code).toBe(0);
    daemon = await startDaemon(setup, [setup.src, setup.dst]);
    const log = await cli(setup, ['log', '--json', setup.src]);
    const entries = log.stdout.trim().split('\n').map((line) => JSON.parse(line) as { type: string; job: string; filesCopied: number; full: boolean });
    // Before the restart: the initial sync (a.txt), b.txt, c.txt; after it: a second initial sync with nothing to copy.
    expect(entries[0]).toMatchObject({ full: true, filesCopied: 1 });
    expect(entries.reduce((sum, e) => sum + e.filesCopied, 0)).toBe(3);
    expect(entries.at(-1)).toMatchObject({ full: true, filesCopied: 0 });
    expect(entries.every((e) => e.type === 'run' && e.job === setup.src)).toBe(true);
    expect((await cli(setup, ['log', '-n', '2'])).stdout.trim().split('\n')).toHaveLength(2);
    expect((await status(setup)).report.jobs[0]?.lastRun?.filesCopied).toBe(0);
    expect((await daemon.stop()).code).toBe(0);

    const offline = await cli(setup, ['log', '-n', '1']);
    expect(offline.stdout).toContain('full sync');
    expect(offline.stderr).toContain('no daemon answers');
  });
});

describe('snapshots on the event stream and in the history', { timeout: 180_000 }, () => {
  it('publishes snapshot-taken and logs the snapshot with its job', async () => {
    const setup = controlSetup();
    const daemon = await startDaemon(setup, [setup.src, setup.dst, '--snapshot-every', '1s']);
    // An id of no boot of this daemon replays every kept event: a snapshot taken before the stream opened is there too.
    const events = await openStream(setup.socket, 'earlier-0');
    const taken = await until(() => events.received.find((e) => e.type === 'snapshot-taken'), 'snapshot-taken on the stream', 30_000);
    events.close();
    const name = taken.data.name as string;
    const snapshot = path.join(setup.dst, 'snapshots', name);
    expect(taken.data).toMatchObject({ job: setup.src, path: snapshot, files: 1 });
    expect(readOrUndefined(path.join(snapshot, 'a.txt'))).toBe('first');

    const log = await cli(setup, ['log', '--json', setup.src]);
    const entries = log.stdout.trim().split('\n').map((line) => JSON.parse(line) as { type: string; job: string; path?: string });
    expect(entries).toContainEqual(expect.objectContaining({ type: 'snapshot', job: setup.src, path: snapshot, files: 1 }));
    expect((await cli(setup, ['log'])).stdout).toContain(`snapshot ${setup.src}: ${snapshot}, 1 files`);
    expect((await daemon.stop()).code).toBe(0);
  });
});

describe('systemd notify', { timeout: 180_000 }, () => {
  it('sends READY with a status line once the job watches, and STOPPING on SIGTERM', async () => {
    const setup = controlSetup();
    const notifySocket = path.join(setup.root, 'notify.sock');
    const received = path.join(setup.root, 'notify.txt');
    const listener = listenDatagrams(notifySocket, received);
    try {
      await until(() => fs.existsSync(notifySocket), 'the notify socket');
      const daemon = await startDaemon(setup, [setup.src, setup.dst], { env: { NOTIFY_SOCKET: notifySocket } });
      await until(() => readOrUndefined(received)?.includes('READY=1'), 'READY=1');
      expect(readOrUndefined(received)).toMatch(/STATUS=1 job: 1 watching/);
      expect((await daemon.stop()).code).toBe(0);
      await until(() => readOrUndefined(received)?.includes('STOPPING=1'), 'STOPPING=1');
    } finally {
      listener.kill();
    }
  });
});

interface Received {
  readonly id: string;
  readonly type: string;
  readonly data: Record<string, unknown>;
}

/** GET /v1/events over the socket, parsing server-sent events as they come. */
async function openStream(socketPath: string, lastEventId?: string): Promise<{ received: Received[]; close(): void }> {
  const received: Received[] = [];
  const req = http.request({ socketPath, path: '/v1/events', headers: lastEventId ? { 'last-event-id': lastEventId } : {} });
  const opened = new Promise<http.IncomingMessage>((resolve, reject) => req.on('response', resolve).on('error', reject));
  req.end();
  const res = await opened;
  expect(res.headers['content-type']).toBe('text/event-stream');
  let buffer = '';
  res.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const field = (name: string) => block.split('\n').find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
      const id = field('id');
      if (id !== undefined) received.push({ id, type: field('event') ?? '', data: JSON.parse(field('data') ?? '{}') as Record<string, unknown> });
    }
  });
  return { received, close: () => req.destroy() };
}

/** A unix datagram socket (what systemd listens on) that appends every message to `out`. */
function listenDatagrams(socketPath: string, out: string): ChildProcess {
  const script = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
while True:
    data = s.recv(65536)
    with open(sys.argv[2], 'ab') as f:
        f.write(data + b'\\n')
`;
  const child = spawn('python3', ['-c', script, socketPath, out], { stdio: 'ignore' });
  return child;
}
