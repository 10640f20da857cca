/** The HTTP page server end to end: its checks (token, Host, Origin, content type), /healthz, /metrics, and the page in Chromium. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/tree.js';
import { cli, controlSetup, startDaemon, status, until, writeConfig } from './fixture.js';

const NOBODY = { uid: 65534, gid: 65534 };

interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

function call(base: URL, pathName: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: base.hostname, port: base.port, path: pathName, method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

async function pageLink(setup: ReturnType<typeof controlSetup>): Promise<{ url: URL; token: string }> {
  const result = await cli(setup, ['status', '--url']);
  expect(result.code).toBe(0);
  const url = new URL(result.stdout.trim());
  return { url, token: url.searchParams.get('token') as string };
}

describe('backup watch --http', { timeout: 180_000 }, () => {
  it('lets through only requests with the token, this Host, and (for POSTs) JSON from this Origin; /healthz is open', async () => {
    const setup = controlSetup();
    const config = writeConfig(setup, { jobs: [{ source: setup.src, dest: setup.dst, name: 'docs', maxAge: '1s' }] });
    const daemon = await startDaemon(setup, ['--config', config, '--http', '127.0.0.1:0']);
    const { url, token } = await pageLink(setup);
    expect(fs.statSync(path.join(setup.state, 'http-token')).mode & 0o777).toBe(0o600);
    const host = url.host;
    const bearer = { authorization: `Bearer ${token}` };

    expect((await call(url, '/v1/status')).status).toBe(401);
    expect((await call(url, '/v1/status', { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    const ok = await call(url, '/v1/status', { headers: bearer });
    expect(ok.status).toBe(200);
    expect((JSON.parse(ok.body) as { jobs: { name: string }[] }).jobs[0]?.name).toBe('docs');
    expect(Object.keys(ok.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
    // DNS rebinding: a page of evil.example whose name now points at 127.0.0.1.
    expect((await call(url, '/v1/status', { headers: { ...bearer, host: 'evil.example:80' } })).status).toBe(403);
    expect((await call(url, '/v1/status', { headers: { ...bearer, host: `localhost:${url.port}` } })).status).toBe(200);

    // The login link sets an HttpOnly cookie and sends the browser on without the token in the address.
    const login = await call(url, `/?token=${token}`);
    expect(login.status).toBe(303);
    expect(login.headers.location).toBe('/');
    const cookie = String(login.headers['set-cookie']).split(';')[0] as string;
    expect(String(login.headers['set-cookie'])).toContain('HttpOnly');
    expect((await call(url, '/', { headers: { cookie } })).body).toContain('<script type="module" src="/app.js">');
    expect((await call(url, '/app.js', { headers: { cookie } })).headers['content-type']).toContain('text/javascript');

    const json = { 'content-type': 'application/json' };
    const post = (headers: Record<string, string>) => call(url, '/v1/jobs/pause', { method: 'POST', headers, body: '{}' });
    expect((await post({ cookie, 'content-type': 'text/plain', origin: `http://${host}` })).status).toBe(415);
    expect((await post({ cookie, ...json, origin: 'http://evil.example' })).status).toBe(403);
    expect((await post({ cookie, ...json })).status).toBe(403);
    expect((await post({ ...bearer, ...json, origin: 'http://evil.example' })).status).toBe(403);
    expect((await status(setup)).report.jobs[0]?.paused).toBe(false);
    expect((await post({ cookie, ...json, origin: `http://${host}` })).status).toBe(200);
    expect((await status(setup)).report.jobs[0]?.paused).toBe(true);

    const metrics = await call(url, '/metrics', { headers: bearer });
    expect(metrics.headers['content-type']).toContain('text/plain; version=0.0.4');
    expect(metrics.body).toContain('backupd_job_files_copied_total{job="docs"} 1');
    expect(metrics.body).toMatch(/backupd_job_last_success_timestamp_seconds\{job="docs"\} \d+/);
    expect(metrics.body).toContain('backupd_job_paused{job="docs"} 1');
    expect((await call(url, '/metrics')).status).toBe(401);

    // Paused past its maxAge (1 s): stale, and /healthz says so without a token.
    const unhealthy = await pollHealth(url, 503);
    expect(unhealthy.body).toMatch(/docs: stale/);
    await cli(setup, ['ctl', 'resume']);
    await pollHealth(url, 200);
    expect((await daemon.stop()).code).toBe(0);
  });

  it('answers /healthz 503 while a folder cannot be watched (watcher died), and 200 once a run watches it again', async () => {
    const setup = controlSetup();
    // As root every folder can be watched: an unprivileged daemon meets one it may not read.
    execFileSync('chown', ['-R', `${NOBODY.uid}:${NOBODY.gid}`, setup.root]);
    const daemon = await startDaemon(setup, [setup.src, setup.dst, '--http', '127.0.0.1:0'], { asUser: NOBODY });
    const { url } = await pageLink(setup);
    await pollHealth(url, 200);
    const locked = path.join(setup.src, 'locked');
    execFileSync('setpriv', ['--reuid', String(NOBODY.uid), '--regid', String(NOBODY.gid), '--clear-groups', 'mkdir', '-m', '000', locked]);

    const died = await pollHealth(url, 503);
    expect(JSON.parse(died.body)).toMatchObject({ healthy: false, reasons: expect.arrayContaining([expect.stringContaining(`${setup.src}: watcher died: cannot watch ${locked}: permission denied (EACCES)`)]) });
    const report = await status(setup);
    expect(report.code).toBe(1);
    expect(report.report.jobs[0]).toMatchObject({ state: 'watcher-died', watchFailure: { path: locked, code: 'EACCES' } });

    // Readable again: a full run watches the whole tree again, and a file written there is copied.
    fs.chmodSync(locked, 0o755);
    expect((await cli(setup, ['ctl', 'run'])).code).toBe(0);
    await pollHealth(url, 200);
    expect((await status(setup)).report.jobs[0]?.watchFailure).toBeNull();
    execFileSync('setpriv', ['--reuid', String(NOBODY.uid), '--regid', String(NOBODY.gid), '--clear-groups', 'sh', '-c', `echo seen > ${locked}/new.txt`]);
    await until(() => fs.existsSync(path.join(setup.dst, 'locked', 'new.txt')), 'new.txt in the watched-again folder', 20_000);
    expect((await daemon.stop()).code).toBe(0);
  });

  it('refuses a non-loopback address unless the config allows it (exit 2)', async () => {
    const setup = controlSetup();
    const result = await cli(setup, ['watch', setup.src, setup.dst, '--http', '0.0.0.0:0']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('not a loopback address');
    expect(fs.existsSync(setup.dst)).toBe(false);
  });

  it('shows the jobs in Chromium, and a progress bar that moves during a large copy', async () => {
    const setup = controlSetup();
    const daemon = await startDaemon(setup, [setup.src, setup.dst, '--http', '127.0.0.1:0', '-j', '1']);
    const { url } = await pageLink(setup);
    const profile = tempDir('backupd-chromium-');
    // A fresh profile (Playwright passes it as --user-data-dir).
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage();
      await page.goto(url.href);
      expect(new URL(page.url()).search).toBe('');
      const row = page.locator(`tr.job[data-job="${setup.src}"]`);
      await row.waitFor({ timeout: 20_000 });
      expect(await row.locator('.state').textContent()).toBe('watching');

      // 1 GiB appears at once (renamed in): one copy long enough for several progress events.
      const big = path.join(setup.root, 'big.bin');
      execFileSync('head', ['-c', String(1024 ** 3), '/dev/zero'], { stdio: ['ignore', fs.openSync(big, 'w'), 'inherit'] });
      fs.renameSync(big, path.join(setup.src, 'big.bin'));
      const seen = new Set<number>();
      const deadline = Date.now() + 60_000;
      while (seen.size < 1 && !fs.existsSync(path.join(setup.dst, 'big.bin')) && Date.now() < deadline) {
        const value = await row.locator('progress').getAttribute('value', { timeout: 100 }).catch(() => null);
        if (value !== null && Number(value) > 0 && Number(value) < 1024 ** 3) seen.add(Number(value));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      // A value strictly between 0 and the total, then the finished copy: the bar moved through the copy
      // (a quiet machine copies 1 GiB in well under a second, too fast to sample twice reliably).
      expect(seen.size).toBeGreaterThanOrEqual(1);
      await until(() => fs.existsSync(path.join(setup.dst, 'big.bin')), 'big.bin in dest', 60_000);
      await page.locator(`tr.job[data-job="${setup.src}"] .state`, { hasText: 'watching' }).waitFor({ timeout: 20_000 });
      expect(await page.locator('#history').textContent()).toContain('1 copied (1.0 GiB)');
    } finally {
      await browser.close();
    }
    expect((await daemon.stop()).code).toBe(0);
  });
});

async function pollHealth(url: URL, want: number): Promise<Answer> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const answer = await call(url, '/healthz');
    if (answer.status === want) return answer;
    if (Date.now() > deadline) throw new Error(`/healthz stayed ${answer.status}: ${answer.body}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
