/**
 * Where backupd's time goes on one workload, on the bench's data and fresh dest filesystems.
 *
 *   node bench/profile.mjs <small|large|mixed|noop> [--quick] [--cpu-prof] [--strace]
 *   node bench/profile.mjs <workload> --compare <a/dist/cli/main.js> <b/dist/cli/main.js> ... [--runs n]
 *   anything after `--` is passed to backupd (e.g. `-- -j 3`)
 *
 * --cpu-prof   runs once under `node --cpu-prof` (main and worker threads) and prints the top functions
 * --strace     runs once under `strace -c -f` and prints the syscall table
 * --compare    times each given build (and cp -a) alternately, each on a fresh dest: the A/B test for a
 *              prototype. A build is a copy of dist/ with package.json two folders above main.js;
 *              `main.js:-j,3` adds arguments for that contender only (compare thread counts).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MAIN, NODE, ROOT, log, makeDestFs, mountSource, requireRoot, syncTime, timed, warm } from './harness.mjs';
import { syncfs } from './loop-fs.mjs';
import { median } from './report.mjs';

const WORKLOAD_FOLDER = { small: 'small', large: 'large', mixed: 'mixed', noop: 'small' };

function parseArgs(argv) {
  const dashes = argv.indexOf('--');
  const own = dashes >= 0 ? argv.slice(0, dashes) : argv;
  const compareAt = own.indexOf('--compare');
  const compare = [];
  if (compareAt >= 0) for (let i = compareAt + 1; i < own.length && !own[i].startsWith('--'); i++) compare.push(own[i]);
  const runsAt = own.indexOf('--runs');
  const workload = own[0];
  if (!(workload in WORKLOAD_FOLDER)) throw new Error(`usage: profile.mjs <${Object.keys(WORKLOAD_FOLDER).join('|')}> [options]`);
  return {
    workload,
    mode: own.includes('--quick') ? 'quick' : 'full',
    cpuProf: own.includes('--cpu-prof'),
    strace: own.includes('--strace'),
    compare,
    runs: runsAt >= 0 ? Number(own[runsAt + 1]) : 5,
    extra: dashes >= 0 ? argv.slice(dashes + 1) : [],
  };
}

/** Fresh dest, dest filled first for the no-op workload, source warm: the state a timed bench run starts in. */
function prepare(destFs, options, source, main) {
  const dest = destFs.fresh();
  const out = path.join(dest, 'out');
  if (options.workload === 'noop') {
    spawnSync(NODE, [main, source, out, '--quiet'], { stdio: 'inherit' });
    syncfs(dest);
  }
  warm([source]);
  return { dest, out };
}

// ---- cpu profiles -----------------------------------------------------------------------------------

function summarizeProfile(file, topSelf = 15, topInclusive = 20) {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const sampled = new Map();
  profile.samples.forEach((id, i) => sampled.set(id, (sampled.get(id) ?? 0) + profile.timeDeltas[i]));
  const name = (n) => {
    const url = n.callFrame.url.replace(/^file:\/\//, '').replace(ROOT, '').replace(/.*node_modules\//, '');
    return `${n.callFrame.functionName || '(anonymous)'} ${url}${url ? `:${n.callFrame.lineNumber + 1}` : ''}`;
  };
  const self = new Map();
  const inclusive = new Map();
  for (const [id, us] of sampled) {
    const key = name(byId.get(id));
    self.set(key, (self.get(key) ?? 0) + us);
    const seen = new Set();
    for (let x = id; x !== undefined; x = parent.get(x)) {
      const k = name(byId.get(x));
      if (!seen.has(k)) inclusive.set(k, (inclusive.get(k) ?? 0) + us);
      seen.add(k);
    }
  }
  const top = (map, n) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, us]) => `  ${(us / 1000).toFixed(1).padStart(8)} ms  ${k}`)
      .join('\n');
  return `${path.basename(file)}: ${((profile.endTime - profile.startTime) / 1000).toFixed(0)} ms\n self time:\n${top(self, topSelf)}\n inclusive:\n${top(inclusive, topInclusive)}`;
}

function cpuProfile(destFs, options, source) {
  const { out } = prepare(destFs, options, source, MAIN);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'backupd-prof-'));
  const started = Date.now();
  spawnSync(NODE, ['--cpu-prof', `--cpu-prof-dir=${dir}`, MAIN, source, out, '--quiet', ...options.extra], { stdio: 'inherit' });
  log(`--cpu-prof run: ${Date.now() - started} ms wall (profiling slows it); profiles in ${dir}`);
  for (const file of fs.readdirSync(dir).sort()) process.stdout.write(`${summarizeProfile(path.join(dir, file))}\n\n`);
}

function straceCount(destFs, options, source) {
  const { out } = prepare(destFs, options, source, MAIN);
  const file = path.join(os.tmpdir(), `backupd-strace-${process.pid}.txt`);
  spawnSync('strace', ['-c', '-f', '-o', file, NODE, MAIN, source, out, '--quiet', ...options.extra], { stdio: 'inherit' });
  process.stdout.write(`strace -c -f:\n${fs.readFileSync(file, 'utf8')}\n`);
}

// ---- A/B --------------------------------------------------------------------------------------------

async function compareBuilds(destFs, options, source) {
  const contenders = [
    ...options.compare.map((spec) => {
      const [file, args = ''] = spec.split(':');
      const own = args === '' ? [] : args.split(',');
      const main = path.resolve(file);
      return { name: `${path.relative(ROOT, main)} ${own.join(' ')}`.trim(), cmd: (out) => [NODE, [main, source, out, '--quiet', ...own, ...options.extra]], main };
    }),
    { name: 'cp -a', cmd: (out) => ['cp', ['-a', source, out]], main: MAIN },
  ];
  const times = new Map(contenders.map((c) => [c.name, []]));
  // One untimed cp -a first: the first run after the data was made pays for the kernel reclaiming memory.
  const warmUp = prepare(destFs, options, source, MAIN);
  await timed(...contenders.at(-1).cmd(warmUp.out));
  for (let round = 0; round < options.runs; round++) {
    for (let i = 0; i < contenders.length; i++) {
      const c = contenders[(i + round) % contenders.length];
      const { dest, out } = prepare(destFs, options, source, c.main);
      const [cmd, args] = c.cmd(out);
      const run = await timed(cmd, args);
      const syncMs = syncTime(dest);
      if (run.code !== 0) throw new Error(`${c.name} exited ${run.code}: ${run.stderr}`);
      times.get(c.name).push({ ms: run.ms, syncMs, rssKb: run.rssKb, cpuMs: run.cpuMs ?? 0 });
      log(`${c.name}: ${run.ms.toFixed(0)} ms, cpu ${(run.cpuMs ?? 0).toFixed(0)} ms (+syncfs ${syncMs.toFixed(0)}), ${((run.rssKb ?? 0) / 1024).toFixed(0)} MB`);
    }
  }
  const reference = median(times.get('cp -a').map((r) => r.ms));
  const referenceSynced = median(times.get('cp -a').map((r) => r.ms + r.syncMs));
  process.stdout.write(
    `| build | median ms | min–max ms | ÷ cp -a | incl. syncfs ms | ÷ cp -a incl. syncfs | CPU ms (user+sys) | peak RSS MB |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n`,
  );
  for (const [name, runs] of times) {
    const ms = runs.map((r) => r.ms);
    const rss = Math.max(...runs.map((r) => r.rssKb ?? 0)) / 1024;
    const synced = median(runs.map((r) => r.ms + r.syncMs));
    const cpu = median(runs.map((r) => r.cpuMs));
    process.stdout.write(
      `| ${name} | ${median(ms).toFixed(0)} | ${Math.min(...ms).toFixed(0)}–${Math.max(...ms).toFixed(0)} | ${(median(ms) / reference).toFixed(2)} | ${synced.toFixed(0)} | ${(synced / referenceSynced).toFixed(2)} | ${cpu.toFixed(0)} | ${rss.toFixed(0)} |\n`,
    );
  }
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  requireRoot('profile');
  const mounted = mountSource(options.mode);
  const destFs = makeDestFs(options.mode === 'quick' ? 2 ** 30 : 4 * 2 ** 30);
  const source = path.join(mounted.mountpoint, WORKLOAD_FOLDER[options.workload]);
  try {
    if (options.cpuProf) cpuProfile(destFs, options, source);
    if (options.strace) straceCount(destFs, options, source);
    if (options.compare.length > 0) await compareBuilds(destFs, options, source);
  } finally {
    destFs.dispose();
    mounted.release();
  }
}

await main();
