/**
 * Download bench (issue 12): `backup assemble` from four HTTP mirrors side by side with aria2c and curl,
 * and from four local folder copies side by side with `cp` + `sync <file>`.
 *
 *   node bench/http.mjs                 1 GiB, 3 runs per tool and scenario (root; several minutes)
 *   node bench/http.mjs --quick         64 MiB, 1 run: a smoke test of the rig
 *   options: --runs <n>  --only <fast,slow,flaky,local>  --port <first port, default 18080>
 *            --baseline <dir/cli/main.js>  also runs that build (e.g. a copy of main's dist/) as "backupd baseline",
 *            for an A/B in the same run; --block-sizes <size,...>  also runs this build with each --block-size
 *            given, as "backupd --block-size <size>"; --wide-only  of the peers, only aria2c -x4 -s16 (and cp)
 *
 * The file lives in its own ext4 image (bench/.data/http-source.img, made once by generate.mjs, four
 * copies in mirrors/m1..m4), loop-mounted read-only with direct I/O; nginx serves copy i as mirror i
 * (bench/http-rig.mjs). Every run writes into a freshly made ext4, after every copy was read once (the
 * page cache is equally warm for every tool); its output's SHA-256 is checked against the generator's.
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { SPECS, content } from './data-spec.mjs';
import { DATA_DIR } from './generate.mjs';
import { MAIN, NODE, ROOT, ensureBuilt, gitCommit, log, makeDestFs, mountSource, requireRoot, syncTime, timed, warm } from './harness.mjs';
import { SCENARIOS, hasNginx, nginxVersion, startMirrors } from './http-rig.mjs';
import { loadAverage, machineInfo, renderReport, toolVersion } from './report.mjs';

const NAME = 'big.bin';
const ARIA2_WIDE = 'aria2c -x4 -s16';
const ARIA2_NARROW = 'aria2c -x1 -s4';
const CURL = 'curl (mirror 1 only)';
const CP_SYNC = 'cp + sync <file>';
const BASELINE = 'backupd baseline';
/** Targets of issue 12, as backupd's median ÷ the peer's. */
const TARGETS = { fast: 0.8, slow: 0.6, flaky: 1.0 };

function parseArgs(argv) {
  const value = (name) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const quick = argv.includes('--quick');
  const runs = Number(value('--runs') ?? (quick ? 1 : 3));
  const port = Number(value('--port') ?? 18080);
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs takes a whole number >= 1');
  if (!Number.isInteger(port) || port < 1024 || port > 65000) throw new Error('--port takes a port from 1024 to 65000');
  const baseline = value('--baseline');
  if (baseline !== undefined && !fs.existsSync(baseline)) throw new Error(`--baseline ${baseline}: no such file`);
  return { mode: quick ? 'http-quick' : 'http', runs, port, only: value('--only')?.split(','), baseline: baseline && path.resolve(baseline), blockSizes: value('--block-sizes')?.split(',') ?? [], wideOnly: argv.includes('--wide-only') };
}

/** What a build's assemble can read: folders once its --help names --from, URLs once it names --max-per-host (issue 12). */
function assembleReads(main = MAIN) {
  const out = spawnSync(NODE, [main, 'assemble', '--help'], { encoding: 'utf8' });
  const help = out.status === 0 ? out.stdout : '';
  return { local: help.includes('--from'), http: help.includes('--max-per-host') };
}

function aria2(k, n) {
  // -q: no progress on stderr; --auto-file-renaming=false: fail rather than write big.bin.1.
  return (urls, dest) => ['aria2c', ['--no-conf', `-x${k}`, `-s${n}`, '-k1M', '--file-allocation=none', '-q', '--auto-file-renaming=false', '-d', dest, '-o', NAME, ...urls]];
}

function assembleWith(main, extra = []) {
  return (sources, dest) => [NODE, [main, 'assemble', NAME, '--from', ...sources, '-o', path.join(dest, NAME), '--quiet', ...extra]];
}

const TOOLS = {
  backupd: assembleWith(MAIN),
  [ARIA2_WIDE]: aria2(4, 16),
  [ARIA2_NARROW]: aria2(1, 4),
  [CURL]: (urls, dest) => ['curl', ['-sS', '--fail', '-o', path.join(dest, NAME), urls[0]]],
  [CP_SYNC]: (folders, dest) => ['sh', ['-c', 'cp -- "$1" "$2" && sync -- "$2"', 'sh', path.join(folders[0], NAME), path.join(dest, NAME)]],
};

const sized = (blockSize) => `backupd --block-size ${blockSize}`;

function workloads(size, folders, rig, { baseline, blockSizes, wideOnly }) {
  const ours = ['backupd', ...(baseline === undefined ? [] : [BASELINE]), ...blockSizes.map(sized)];
  const human = size >= 2 ** 30 ? `${size / 2 ** 30} GiB` : `${size / 2 ** 20} MiB`;
  const http = SCENARIOS.map((scenario) => ({
    id: scenario.id,
    kind: 'http',
    title: `${human}, ${scenario.title}`,
    sources: rig.urlsFor(scenario.id),
    tools: [...ours, ...(wideOnly ? [ARIA2_WIDE] : [ARIA2_WIDE, ARIA2_NARROW, CURL])],
    targets: (wideOnly ? [ARIA2_WIDE] : [ARIA2_WIDE, ARIA2_NARROW]).map((peer) => ({ kind: 'ratio', peer, max: TARGETS[scenario.id] })),
  }));
  const local = {
    id: 'local',
    kind: 'local',
    title: `${human} from 4 local folder copies`,
    sources: folders,
    tools: [...ours, CP_SYNC],
    targets: [{ kind: 'ratio', peer: CP_SYNC, max: 1.1 }],
  };
  return [...http, local];
}

/** SHA-256 of the bench file as the generator makes it: checks every tool's output independently of the image. */
function expectedSha256(size) {
  const hash = createHash('sha256');
  for (const chunk of content({ size, contentId: NAME })) hash.update(chunk);
  return hash.digest('hex');
}

function sha256Of(file) {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(8 << 20);
  const fd = fs.openSync(file, 'r');
  try {
    for (let n; (n = fs.readSync(fd, buffer, 0, buffer.length, null)) > 0; ) hash.update(buffer.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/** A failed run's whole stderr goes to a file (a stack trace is longer than a table cell); returns its first line and the file. */
function keepStderr(workload, tool, stderr) {
  const file = path.join(DATA_DIR, `http-${workload.id}-${tool.split(' ')[0]}-stderr.log`);
  fs.writeFileSync(file, `${stderr}\n`);
  const lines = stderr.split('\n').map((line) => line.trim());
  // A crash prints `node:events:502` and source lines before the error itself.
  const telling = lines.find((line) => /^(\w*Error\b|backup: )/.test(line)) ?? lines.find((line) => line !== '') ?? '(no stderr)';
  return `${telling.slice(0, 160)} (stderr: ${path.relative(ROOT, file)})`;
}

async function runOnce(workload, tool, context) {
  const dest = context.destFs.fresh();
  const [cmd, args] = TOOLS[tool](workload.sources, dest);
  warm(context.folders);
  const result = await timed(cmd, args);
  const syncMs = syncTime(dest);
  if (result.code !== 0) return { error: `exited ${result.code}: ${keepStderr(workload, tool, result.stderr)}` };
  const out = path.join(dest, NAME);
  if (!fs.existsSync(out)) return { error: 'left no output' };
  const got = sha256Of(out);
  if (got !== context.sha256) return { error: `wrong bytes: sha256 ${got.slice(0, 16)}…, expected ${context.sha256.slice(0, 16)}… (${fs.statSync(out).size} bytes)` };
  return { ms: result.ms, syncMs, rssKb: result.rssKb, cpuMs: result.cpuMs };
}

async function runWorkload(workload, runs, context) {
  const missingNote = (name) => context.missing.get(name.startsWith('backupd') ? `${name === BASELINE ? BASELINE : 'backupd'} ${workload.kind}` : name);
  const tools = workload.tools.map((name) => ({ name, runs: [], note: missingNote(name) }));
  // One untimed run first (as bench/run.mjs): the first run after the copies were read paid for the
  // kernel reclaiming memory (4.65 s against 1.32-1.37 s for the same local assemble).
  const first = tools.find((t) => t.note === undefined);
  if (first !== undefined) await runOnce(workload, first.name, context);
  for (let round = 0; round < runs; round++) {
    // A rotating order: no tool always runs first, or always right after the same neighbour.
    for (const tool of tools.map((_, i) => tools[(i + round) % tools.length])) {
      if (tool.note !== undefined) continue;
      const run = await runOnce(workload, tool.name, context);
      if (run.error !== undefined) {
        tool.note = `failed: ${run.error}`;
        tool.runs = [];
      } else tool.runs.push(run);
      log(`[${workload.id}] round ${round + 1}/${runs} ${tool.name}: ${run.error ?? `${(run.ms / 1000).toFixed(3)} s (+syncfs ${(run.syncMs / 1000).toFixed(3)} s)`}`);
    }
  }
  return { ...workload, tools };
}

function detectTools(notes, baseline) {
  const missing = new Map();
  const versions = [`backupd ${JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version} (${gitCommit()})`, `nginx ${nginxVersion()}`];
  const reads = assembleReads();
  if (!reads.http) {
    missing.set('backupd http', 'not in this build');
    notes.push('`backup assemble` in this build has no HTTP sources (its --help lists no --max-per-host): its HTTP rows are not run, only the peers are measured.');
  }
  if (!reads.local) missing.set('backupd local', 'not in this build');
  if (baseline !== undefined) {
    versions.push(`backupd baseline: ${path.relative(ROOT, baseline)}`);
    const baselineReads = assembleReads(baseline);
    if (!baselineReads.http) missing.set(`${BASELINE} http`, 'not in that build');
    if (!baselineReads.local) missing.set(`${BASELINE} local`, 'not in that build');
  }
  for (const [names, cmd] of [[[ARIA2_WIDE, ARIA2_NARROW], 'aria2c'], [[CURL], 'curl']]) {
    const version = toolVersion(cmd);
    if (version === undefined) for (const name of names) missing.set(name, `not installed (apt-get install ${cmd === 'aria2c' ? 'aria2' : cmd})`);
    else versions.push(version.split(' ').slice(0, cmd === 'curl' ? 2 : 3).join(' '));
  }
  return { missing, versions };
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  requireRoot('bench/http.mjs');
  if (!hasNginx()) {
    log('bench/http.mjs: needs nginx (apt-get install nginx-light)');
    process.exit(2);
  }
  ensureBuilt();
  const notes = [];
  if (options.baseline !== undefined) TOOLS[BASELINE] = assembleWith(options.baseline);
  for (const blockSize of options.blockSizes) TOOLS[sized(blockSize)] = assembleWith(MAIN, ['--block-size', blockSize]);
  const { missing, versions } = detectTools(notes, options.baseline);
  const size = SPECS[options.mode].mirror.size;
  log('computing the expected SHA-256 from the generator');
  const sha256 = expectedSha256(size);
  const source = mountSource(options.mode);
  const folders = [1, 2, 3, 4].map((i) => path.join(source.mountpoint, `mirrors/m${i}`));
  const destFs = makeDestFs(Math.ceil(size * 1.2) + 256 * 2 ** 20);
  let rig;
  const cleanup = async () => {
    await rig?.stop();
    destFs.dispose();
    source.release();
  };
  process.on('SIGINT', () => void cleanup().finally(() => process.exit(130)));

  const load = { start: loadAverage(), end: '' };
  const started = Date.now();
  const results = [];
  try {
    rig = await startMirrors({ roots: folders, name: NAME, basePort: options.port, log });
    let all = workloads(size, folders, rig, options);
    if (options.only !== undefined) all = all.filter((w) => options.only.includes(w.id));
    for (const workload of all) results.push(await runWorkload(workload, options.runs, { destFs, folders, sha256, missing }));
  } finally {
    await cleanup();
  }
  load.end = loadAverage();

  const setup = [
    `Runs: ${options.runs} per tool and scenario, tools in a rotating order after one untimed warm-up run per scenario; total ${((Date.now() - started) / 60000).toFixed(1)} min. Every output's SHA-256 is checked (untimed); a wrong byte fails the tool.`,
    `Mirrors: nginx, mirror i on 127.0.0.i (one server block per address and port), each serving its own copy from a read-only ext4 image on a loop device (direct I/O); sendfile on, access log off. ` +
      'Slow mirror: `limit_rate 10m` (per connection). Flaky mirror: `return 503` for half the requests (`map` on the last hex digit of `$request_id`), no Retry-After.',
    `Dest: a fresh ext4 for every run (loop image backed by ${destFs.backing}). All four copies are read right before each run, so nginx and cp start from the same warm page cache.`,
    `aria2c: \`--no-conf -x<k> -s<n> -k1M --file-allocation=none\` with the 4 URLs: -x4 -s16 opens 4 connections to each mirror (backupd's default --max-per-host is 4), -x1 -s4 one to each. curl downloads from mirror 1 alone. ` +
      `backupd: \`backup assemble big.bin --from <4 urls> -o <dest>/big.bin --quiet\`${options.baseline === undefined ? '' : ' ("backupd baseline": the same command with the build named above)'}; it fsyncs the file before renaming it, aria2c and curl do not (see "incl. syncfs").`,
    `Local: \`backup assemble big.bin --from <4 folders>\` against \`cp <copy 1> <dest> && sync <dest>\` (the bytes made durable, as assemble does).`,
    'Time: wall clock from spawn to exit; "incl. syncfs" adds a timed `sync -f <dest>` after the command.',
  ];
  const report = renderReport({
    mode: options.mode,
    date: `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    machine: machineInfo(),
    setup,
    versions,
    results,
    notes,
    load,
    issue: 12,
  });
  process.stdout.write(report);
  const out = path.join(ROOT, options.mode === 'http-quick' ? 'bench/.data/http-latest-quick.md' : 'bench/results/http-latest.md');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, report);
  log(`written to ${path.relative(ROOT, out)}`);
}

await main();
