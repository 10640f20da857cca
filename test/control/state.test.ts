/** The pure parts of the control plane: the job model's health, and the page server's request checks. */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkRequest, TOKEN_COOKIE } from '../../src/control/http-guard.js';
import { snapshotsInDest } from '../../src/control/latest-snapshot.js';
import { JobModel } from '../../src/control/state.js';
import { tempDir, writeTree } from '../helpers/tree.js';

const HOUR = 3_600_000;
const job = { source: '/src', dest: '/dst', maxAgeMs: HOUR };
const idle = { pending: 0, failing: false };
const start = Date.UTC(2026, 0, 1);

function watchingModel(paused = false): JobModel {
  const model = new JobModel(job, { lastRun: null, lastSuccess: null }, paused, start);
  model.event({ type: 'watching', path: '/src', dest: '/dst', durationMs: 1 }, start);
  model.runStarted({ full: true, files: 1, bytesToCopy: 100 }, start);
  model.runFinished({ full: true, durationMs: 10, copied: 1, bytes: 100, failures: [] }, start + 10);
  return model;
}

describe('JobModel', () => {
  it('is current while it watches with nothing waiting, however old its last copy', () => {
    const model = watchingModel();
    const later = model.status(start + 10 * HOUR, idle, null);
    expect(later).toMatchObject({ state: 'watching', healthy: true, problems: [] });
  });

  it('turns stale only after maxAge when paused or with paths waiting', () => {
    const model = watchingModel();
    model.paused = true;
    expect(model.status(start + HOUR - 1000, idle, null).healthy).toBe(true);
    const stale = model.status(start + HOUR + 1000, idle, null);
    expect(stale.state).toBe('paused');
    expect(stale.problems.join()).toMatch(/^stale: last success/);
    model.paused = false;
    expect(model.status(start + 2 * HOUR, { pending: 3, failing: false }, null).healthy).toBe(false);
  });

  it('is unhealthy while a folder is not watched (watcher died), paused or not, and stale only by its own rule', () => {
    const model = watchingModel();
    const lost = { pending: 0, failing: false, watchFailure: { path: '/src/locked', code: 'EACCES', message: 'permission denied' } };
    const died = model.status(start + 20, lost, null);
    expect(died).toMatchObject({ state: 'watcher-died', healthy: false, watchFailure: lost.watchFailure });
    expect(died.problems).toEqual([expect.stringMatching(/^watcher died: cannot watch \/src\/locked: permission denied \(EACCES\)/)]);
    model.paused = true;
    expect(model.status(start + 30, lost, null)).toMatchObject({ state: 'paused', healthy: false });
    model.paused = false;
    expect(model.status(start + 40, idle, null)).toMatchObject({ state: 'watching', healthy: true, watchFailure: null });
  });

  it('is failing while a path waits for its retry, with the reason and time of the retry', () => {
    const model = watchingModel();
    model.event({ type: 'failed', path: '/src/x', code: 'EACCES', message: 'permission denied', retryInMs: 2000 }, start + 20);
    const failing = model.status(start + 30, { pending: 0, failing: true }, null);
    expect(failing).toMatchObject({ state: 'retrying', healthy: false, nextRetry: { at: new Date(start + 2020).toISOString() } });
    expect(failing.problems[0]).toContain('/src/x: permission denied (EACCES)');
    expect(model.status(start + 3000, idle, null)).toMatchObject({ state: 'watching', nextRetry: null, healthy: true });
  });

  it('reports the run in flight with its rate and ETA', () => {
    const model = watchingModel();
    model.runStarted({ full: false, files: 1, bytesToCopy: 1000 }, start);
    model.runProgress(250);
    expect(model.status(start + 1000, idle, null).inFlight).toEqual({ bytes: 250, totalBytes: 1000, rate: 250, etaMs: 3000 });
  });
});

describe('checkRequest', () => {
  const settings = { token: 't'.repeat(43), hosts: new Set(['127.0.0.1:8470', 'localhost:8470']) };
  const bearer = { authorization: `Bearer ${settings.token}`, host: '127.0.0.1:8470' };
  const cookie = { cookie: `other=1; ${TOKEN_COOKIE}=${settings.token}`, host: 'localhost:8470' };
  const get = (headers: Record<string, string>, path = '/v1/status') => checkRequest({ method: 'GET', path, headers }, settings);
  const post = (headers: Record<string, string>) => checkRequest({ method: 'POST', path: '/v1/reload', headers }, settings);

  it('wants the token everywhere but /healthz, and this Host everywhere', () => {
    expect(get({ host: '127.0.0.1:8470' }, '/healthz').ok).toBe(true);
    expect(get({ host: 'rebound.example:8470' }, '/healthz')).toMatchObject({ ok: false, status: 403 });
    expect(get({ host: '127.0.0.1:8470' })).toMatchObject({ ok: false, status: 401 });
    expect(get({ ...bearer, authorization: `Bearer ${settings.token}x` })).toMatchObject({ ok: false, status: 401 });
    expect(get(bearer).ok).toBe(true);
    expect(get(cookie).ok).toBe(true);
  });

  it('takes a POST only as JSON, from this Origin (or without one, with the bearer token)', () => {
    const json = { 'content-type': 'application/json; charset=utf-8' };
    expect(post({ ...cookie, 'content-type': 'application/x-www-form-urlencoded', origin: 'http://localhost:8470' })).toMatchObject({ status: 415 });
    expect(post({ ...cookie, ...json })).toMatchObject({ status: 403 });
    expect(post({ ...cookie, ...json, origin: 'http://evil.example' })).toMatchObject({ status: 403 });
    expect(post({ ...cookie, ...json, origin: 'http://localhost:8470' }).ok).toBe(true);
    expect(post({ ...bearer, ...json }).ok).toBe(true);
  });
});

describe('snapshotsInDest', () => {
  it('reports the newest complete snapshot of a snapshot dest, and none for a plain dest', () => {
    const dest = tempDir();
    const plain = tempDir();
    writeTree(dest, {
      '.backupd/format': '{"format": 1}',
      'snapshots/2026-12-01T014500Z/a.txt': 'old',
      'snapshots/2026-12-02T014500Z/a.txt': 'new',
      'snapshots/.2026-12-03T014500Z.partial/a.txt': 'unfinished',
    });
    const latest = snapshotsInDest();
    expect(latest(dest)).toEqual({ at: '2026-12-02T01:45:00.000Z', path: path.join(dest, 'snapshots/2026-12-02T014500Z') });
    expect(latest(plain)).toBeNull();
  });
});
