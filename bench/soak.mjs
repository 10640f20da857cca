#!/usr/bin/env node
/**
 * Soak test of `backup watch --delete`: a steady stream of changes (new files, modified files, deleted
 * files) for several minutes. Reports whether the daemon keeps up, copies each settled change exactly once
 * (counted from its JSON log lines), its change-to-copy latency, and its RSS sampled every few seconds.
 *
 *   node bench/soak.mjs [--minutes 3] [--rate 4] [--settle 300] [--files 1000] [--dir <folder>] [--prefill]
 *
 * --prefill copies the tree into dest with `cp -a` before the daemon starts, so that a large tree (a
 * million files) is soaked after a restart over a current dest instead of after its first full copy.
 * The tree starts with --files files, 100 to a folder (at least 20 folders). The daemon logs at debug
 * level, so that every copy is counted, a re-scan's too.
 *
 * Run `npm run build` first: this drives dist/cli/main.js.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '3' },
    rate: { type: 'string', default: '4' },
    settle: { type: 'string', default: '300' },
    files: { type: 'string', default: '1000' },
    dir: { type: 'string' },
    prefill: { type: 'boolean', default: false },
  },
});
const DURATION_MS = Number(values.minutes) * 60_000;
const RATE = Number(values.rate);
const SETTLE_MS = Number(values.settle);
const SAMPLE_MS = 5000;
/** A path is touched again only after this long, so that every change settles on its own. */
const QUIET_MS = SETTLE_MS * 4;

const base = fs.mkdtempSync(path.join(values.dir ?? os.tmpdir(), 'soak-'));
const src = path.join(base, 'src');
const dst = path.join(base, 'dst');
const FOLDERS = Math.max(20, Math.ceil(Number(values.files) / 100));
for (let d = 0; d < FOLDERS; d++) fs.mkdirSync(path.join(src, `d${d}`), { recursive: true });
const live = [];
let serial = 0;
function newFile() {
  const rel = `d${serial % FOLDERS}/f${serial++}.txt`;
  fs.writeFileSync(path.join(src, rel), `created ${rel}\n`);
  live.push({ rel, touchedAt: Date.now() });
  return rel;
}
for (let i = 0; i < Number(values.files); i++) newFile();
if (values.prefill) execFileSync('cp', ['-a', src, dst]);

async function until(check, what, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const daemon = spawn(process.execPath, [CLI, 'watch', src, dst, '--delete', '--settle', String(SETTLE_MS), '--log-format', 'json', '--log-level', 'debug'], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
let pendingOut = '';
const events = [];
daemon.stdout.setEncoding('utf8').on('data', (chunk) => {
  pendingOut += chunk;
  const lines = pendingOut.split('\n');
  pendingOut = lines.pop();
  for (const line of lines) if (line !== '') events.push(JSON.parse(line));
});
// A first copy of a large tree takes minutes on a loaded machine: a minute, plus a millisecond a file.
await until(() => events.some((e) => e.event === 'sync-finished'), 'the initial sync', 60_000 + Number(values.files));
// Files written just before the start are copied once they settle, after the sync's summary line: the
// stream's events start once those are done.
await sleep(SETTLE_MS * 3);
const streamStart = events.length;

function rssMiB() {
  const status = fs.readFileSync(`/proc/${daemon.pid}/status`, 'utf8');
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024);
}

/** What the daemon must do for each change: copy it (create, modify) or delete it, once. */
const expected = []; // { rel, kind: 'copy' | 'delete', at }
function pickQuiet() {
  const now = Date.now();
  for (let tries = 0; tries < 20; tries++) {
    const index = Math.floor(Math.random() * live.length);
    if (now - live[index].touchedAt > QUIET_MS) return index;
  }
  return undefined;
}
function change() {
  const roll = Math.random();
  const index = roll < 0.4 ? undefined : pickQuiet();
  if (index === undefined) {
    expected.push({ rel: newFile(), kind: 'copy', at: Date.now() });
  } else if (roll < 0.85) {
    const file = live[index];
    fs.appendFileSync(path.join(src, file.rel), `modified at ${Date.now()}\n`);
    file.touchedAt = Date.now();
    expected.push({ rel: file.rel, kind: 'copy', at: file.touchedAt });
  } else {
    const [file] = live.splice(index, 1);
    fs.rmSync(path.join(src, file.rel));
    expected.push({ rel: file.rel, kind: 'delete', at: Date.now() });
  }
}

const samples = [];
const started = Date.now();
let nextSample = started;
console.log(`soak: ${values.minutes} min, ${RATE} changes/s, settle ${SETTLE_MS} ms, in ${base}`);
while (Date.now() - started < DURATION_MS) {
  change();
  if (Date.now() >= nextSample) {
    samples.push({ s: Math.round((Date.now() - started) / 1000), rssMiB: rssMiB() });
    nextSample += SAMPLE_MS;
  }
  await sleep(1000 / RATE);
}

// Catch-up: every file changed during the soak that still exists is in dest with the source's content
// (the untouched rest was checked by the initial sync; reading a million files per poll would not end).
const liveRels = new Set(live.map((file) => file.rel));
const changedLive = [...new Set(expected.map((e) => e.rel))].filter((rel) => liveRels.has(rel));
const sameTrees = () =>
  changedLive.every((rel) => {
    try {
      return fs.readFileSync(path.join(dst, rel), 'utf8') === fs.readFileSync(path.join(src, rel), 'utf8');
    } catch {
      return false;
    }
  });
const endOfChanges = Date.now();
await until(sameTrees, 'dest to catch up', 60_000);
const catchUpMs = Date.now() - endOfChanges;
await sleep(SETTLE_MS * 3); // any late duplicate would show up now

const toRel = (p) => path.relative(src, p);
const copies = new Map();
for (const e of events.slice(streamStart)) {
  if (e.event === 'copied') copies.set(toRel(e.path), [...(copies.get(toRel(e.path)) ?? []), Date.parse(e.timestamp)]);
}
const deletes = new Set(events.filter((e) => e.event === 'deleted').map((e) => path.relative(dst, e.path)));
const wantCopies = new Map();
for (const { rel, kind, at } of expected) if (kind === 'copy') wantCopies.set(rel, [...(wantCopies.get(rel) ?? []), at]);
let duplicates = 0;
const duplicateDetails = [];
let missing = 0;
const latencies = [];
for (const [rel, ats] of wantCopies) {
  const got = copies.get(rel) ?? [];
  // A file deleted soon after its change may legitimately never be copied.
  if (!liveRels.has(rel)) continue;
  if (got.length > ats.length) {
    duplicates += got.length - ats.length;
    duplicateDetails.push({ rel, changedAt: ats.map((t) => new Date(t).toISOString()), copiedAt: got.map((t) => new Date(t).toISOString()) });
  }
  if (got.length < ats.length) missing += ats.length - got.length;
  ats.forEach((at, i) => got[i] !== undefined && latencies.push(got[i] - at));
}
const deletesWanted = expected.filter((e) => e.kind === 'delete').length;
const failures = events.filter((e) => e.event === 'failed');
latencies.sort((a, b) => a - b);
const third = Math.max(1, Math.floor(samples.length / 3));
const avg = (list) => Math.round(list.reduce((n, s) => n + s.rssMiB, 0) / list.length);

daemon.kill('SIGTERM');
await new Promise((resolve) => daemon.once('exit', resolve));
fs.rmSync(base, { recursive: true, force: true });

const report = {
  changes: expected.length,
  copiesExpected: [...wantCopies.values()].reduce((n, a) => n + a.length, 0),
  copiesLogged: [...copies.values()].reduce((n, a) => n + a.length, 0),
  duplicates,
  duplicateDetails,
  missing,
  deletesExpected: deletesWanted,
  deletesLogged: deletes.size,
  failures: failures.length,
  catchUpMs,
  latencyMs: { p50: latencies[Math.floor(latencies.length / 2)], p99: latencies[Math.floor(latencies.length * 0.99)], max: latencies.at(-1) },
  rssMiB: { first: samples[0]?.rssMiB, last: samples.at(-1)?.rssMiB, min: Math.min(...samples.map((s) => s.rssMiB)), max: Math.max(...samples.map((s) => s.rssMiB)), firstThirdAvg: avg(samples.slice(0, third)), lastThirdAvg: avg(samples.slice(-third)) },
};
console.log(JSON.stringify(report, null, 2));
