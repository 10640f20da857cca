#!/usr/bin/env node
/**
 * Measures `backup watch`: change latency (write -> complete copy in dest) over 100 changes, and start-up
 * time, RSS and inotify watches for a large tree.
 *
 *   node bench/watch-scale.mjs [--fresh-fs <GiB> | --dir <folder>] [--files 100000] [--per-folder 100]
 *                              [--changes 100] [--settle 300]
 *
 * --fresh-fs makes a loop-mounted ext4 image of that size (as root; one inode per 4 KiB, for many small
 * files) and runs everything in it; --dir uses a folder (a fresh filesystem with room for two copies of
 * the tree); the default is a temp folder. Run `npm run build` first: this drives dist/cli/main.js.
 *
 * "ready" is the restart over a current dest: spawn until the initial sync's summary line, i.e. every
 * folder watched and every file checked. The inotify watches are counted from /proc/<pid>/fdinfo.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { attach, createImage, detach, mkfs, mount, umount } from './loop-fs.mjs';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    'fresh-fs': { type: 'string' },
    files: { type: 'string', default: '100000' },
    'per-folder': { type: 'string', default: '100' },
    // Fill dest with `cp -a` and measure only the restart: the daemon's first full copy of a million
    // small files takes over ten minutes on a loaded machine, and is not what this measures.
    'restart-only': { type: 'boolean', default: false },
    changes: { type: 'string', default: '100' },
    settle: { type: 'string', default: '300' },
  },
});
const FILES = Number(values.files);
const CHANGES = Number(values.changes);
const SETTLE = values.settle;
const PER_FOLDER = Number(values['per-folder']);

/** A fresh ext4 image mounted for this run, or undefined. */
function freshFilesystem(gib) {
  const image = path.join(os.tmpdir(), `watch-bench-${process.pid}.img`);
  const mountpoint = path.join(os.tmpdir(), `watch-bench-${process.pid}.mnt`);
  createImage(image, gib * 2 ** 30);
  const device = attach(image);
  mkfs(device, ['-i', '4096']);
  mount(device, mountpoint);
  return {
    dir: mountpoint,
    dispose() {
      umount(mountpoint);
      detach(device);
      fs.rmSync(image, { force: true });
      fs.rmdirSync(mountpoint);
    },
  };
}

const fresh = values['fresh-fs'] === undefined ? undefined : freshFilesystem(Number(values['fresh-fs']));
const base = fs.mkdtempSync(path.join(fresh?.dir ?? values.dir ?? os.tmpdir(), 'watch-bench-'));

async function until(check, what, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(1);
  }
}

const daemons = new Set();

function startDaemon(src, dst) {
  const child = spawn(process.execPath, [CLI, 'watch', src, dst, '--settle', SETTLE, '--log-format', 'json'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, XDG_CONFIG_HOME: '/nonexistent-backupd-bench' },
  });
  const events = [];
  let buffered = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop();
    for (const line of lines) if (!line.includes('"event":"copied"')) events.push({ ...JSON.parse(line), seenAt: performance.now() });
  });
  const exited = new Promise((resolve) => child.on('close', resolve));
  daemons.add(child);
  void exited.then(() => daemons.delete(child));
  return { child, events, exited, event: (name) => events.find((e) => e.event === name) };
}

function memory(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  return { rssMiB: Math.round(kib('VmRSS') / 1024), peakRssMiB: Math.round(kib('VmHWM') / 1024) };
}

/** inotify watches held by the process: one "inotify wd:" line per watch in the fdinfo of its inotify fd. */
function inotifyWatches(pid) {
  let count = 0;
  for (const fd of fs.readdirSync(`/proc/${pid}/fdinfo`)) {
    try {
      const info = fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
      count += info.split('\n').filter((line) => line.startsWith('inotify wd:')).length;
    } catch {
      // fd closed meanwhile
    }
  }
  return count;
}

/** `files` files, PER_FOLDER to a folder, the folders 100 to a parent folder. */
function makeTree(root, files) {
  const started = performance.now();
  for (let i = 0; i < files; i++) {
    const folder = path.join(root, `d${Math.floor(i / PER_FOLDER / 100)}`, `d${Math.floor(i / PER_FOLDER)}`);
    if (i % PER_FOLDER === 0) fs.mkdirSync(folder, { recursive: true });
    fs.writeFileSync(path.join(folder, `f${i}.txt`), `file ${i}\n`);
  }
  return Math.round(performance.now() - started);
}

async function latency() {
  const src = path.join(base, 'lat-src');
  const dst = path.join(base, 'lat-dst');
  makeTree(src, 1000);
  const daemon = startDaemon(src, dst);
  await until(() => daemon.event('sync-finished'), 'initial sync', 60_000);
  const samples = [];
  for (let i = 0; i < CHANGES; i++) {
    const rel = i % 2 === 0 ? `new-${i}.txt` : `d0/d0/f${i}.txt`;
    const content = `change ${i} ${'x'.repeat(i * 10)}`;
    const written = performance.now();
    fs.writeFileSync(path.join(src, rel), content);
    await until(() => {
      try {
        return fs.readFileSync(path.join(dst, rel), 'utf8') === content;
      } catch {
        return false;
      }
    }, `change ${i}`, 10_000);
    samples.push(performance.now() - written);
  }
  daemon.child.kill('SIGTERM');
  await daemon.exited;
  samples.sort((a, b) => a - b);
  return {
    changes: samples.length,
    settleMs: Number(SETTLE),
    medianMs: Math.round(samples[Math.floor(samples.length / 2)]),
    p90Ms: Math.round(samples[Math.floor(samples.length * 0.9)]),
    worstMs: Math.round(samples[samples.length - 1]),
  };
}

async function scale() {
  const src = path.join(base, 'big-src');
  const dst = path.join(base, 'big-dst');
  const createMs = makeTree(src, FILES);
  const runs = {};
  let cpMs;
  if (values['restart-only']) {
    const started = performance.now();
    execFileSync('cp', ['-a', src, dst]);
    cpMs = Math.round(performance.now() - started);
  }
  for (const run of values['restart-only'] ? ['restart (dest current)'] : ['first start (empty dest)', 'restart (dest current)']) {
    const started = performance.now();
    const daemon = startDaemon(src, dst);
    const watching = await until(() => daemon.event('watching') ?? daemon.event('failed'), 'watch ready', 600_000);
    const watchingAtMs = Math.round(watching.seenAt - started);
    const watches = inotifyWatches(daemon.child.pid);
    // The peak so far is the watcher's start-up; what comes after it is the initial sync's plan.
    const peakRssAtWatchingMiB = memory(daemon.child.pid).peakRssMiB;
    const synced = await until(() => daemon.event('sync-finished'), 'initial sync', 600_000);
    const readyMs = Math.round(synced.seenAt - started);
    // A change after start-up, to show the daemon is live at this size.
    const probe = path.join(src, `d0/d0/probe-${Object.keys(runs).length}.txt`);
    const probeWritten = performance.now();
    fs.writeFileSync(probe, 'probe');
    await until(() => fs.existsSync(path.join(dst, path.relative(src, probe))), 'probe', 30_000);
    const probeMs = Math.round(performance.now() - probeWritten);
    const mem = memory(daemon.child.pid);
    daemon.child.kill('SIGTERM');
    const stopAsked = performance.now();
    await daemon.exited;
    runs[run] = {
      watchReadyMs: watchingAtMs,
      syncFinishedMs: readyMs,
      filesCopied: synced.copied,
      inotifyWatches: watches,
      peakRssAtWatchingMiB,
      probeLatencyMs: probeMs,
      ...mem,
      stopMs: Math.round(performance.now() - stopAsked),
    };
  }
  return { files: FILES, folders: Math.ceil(FILES / PER_FOLDER) + Math.ceil(FILES / PER_FOLDER / 100) + 1, createMs, cpMs, runs };
}

try {
  const limit = fs.readFileSync('/proc/sys/fs/inotify/max_user_watches', 'utf8').trim();
  const loadBefore = os.loadavg()[0];
  const result = {
    node: process.version,
    cpus: os.availableParallelism(),
    maxUserWatches: Number(limit),
    filesystem: fresh === undefined ? base : `fresh ext4 image (${values['fresh-fs']} GiB, loop)`,
    latency: await latency(),
    scale: await scale(),
    loadAverage1m: { before: loadBefore, after: os.loadavg()[0] },
  };
  console.log(JSON.stringify(result, null, 2));
} finally {
  for (const child of daemons) child.kill('SIGKILL');
  await Promise.all([...daemons].map((child) => new Promise((resolve) => child.once('close', resolve))));
  if (fresh === undefined) fs.rmSync(base, { recursive: true, force: true });
  else fresh.dispose();
}
