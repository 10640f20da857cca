/**
 * Side-by-side benchmark of backupd against cp -a, rsync -a and rclone (issue 5).
 *
 *   npm run bench                  full data, 5 runs per tool and workload (root; several minutes)
 *   npm run bench -- --quick       small data, 1 run: a smoke test of the whole bench in seconds
 *   options: --runs <n>  --only <workload,...>  (small, large, mixed, noop, assemble, startup)
 *
 * For every run: the dest is a freshly made ext4 filesystem, the source is read once just before (warm
 * page cache), the tools alternate in a rotating order, and the time is the wall clock around the
 * command (spawn to exit), with `sync -f dest` timed separately after it. Prints a Markdown table and
 * writes it to bench/results/latest.md (quick mode: bench/.data/latest-quick.md, not for the record).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { SPECS, layout, totals } from './data-spec.mjs';
import { HAS_GNU_TIME, MAIN, NODE, ROOT, countTree, ensureBuilt, gitCommit, log, makeDestFs, mountSource, requireRoot, syncTime, timed, warm } from './harness.mjs';
import { syncfs } from './loop-fs.mjs';
import { loadAverage, machineInfo, median, renderReport, toolVersion } from './report.mjs';

const GiB = 2 ** 30;

function parseArgs(argv) {
  const quick = argv.includes('--quick');
  const value = (name) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const runs = Number(value('--runs') ?? (quick ? 1 : 5));
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs takes a whole number >= 1');
  const only = value('--only')?.split(',');
  return { mode: quick ? 'quick' : 'full', runs, only };
}

// ---- tools ----------------------------------------------------------------------------------------

const COPY_TOOLS = {
  backupd: (src, dst) => [NODE, [MAIN, src, dst, '--quiet']],
  'cp -a': (src, dst) => ['cp', ['-a', src, dst]],
  'rsync -a': (src, dst) => ['rsync', ['-a', `${src}/`, `${dst}/`]],
  'rclone --transfers 8': (src, dst) => ['rclone', ['copy', '--transfers', '8', src, dst]],
};

/** No-op reruns only: dest filled by cp -a, then the bare Node walk of both trees is what is timed. */
const WALK_FLOOR = 'node walk (floor)';
const WALK_FLOOR_SCRIPT = path.join(ROOT, 'bench/walk-floor.mjs');
const walkFloor = (src, dst) => (fs.existsSync(dst) ? [NODE, [WALK_FLOOR_SCRIPT, src, dst]] : COPY_TOOLS['cp -a'](src, dst));

function detectTools(notes) {
  const present = new Set(['backupd', WALK_FLOOR]);
  const versions = [`backupd ${JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version} (${gitCommit()})`];
  for (const [name, cmd, args] of [
    ['cp -a', 'cp', ['--version']],
    ['rsync -a', 'rsync', ['--version']],
    ['rclone --transfers 8', 'rclone', ['version']],
  ]) {
    const version = toolVersion(cmd, args);
    if (version === undefined) notes.push(`${cmd} is not installed: its rows are skipped (Debian: apt-get install ${cmd === 'cp' ? 'coreutils' : cmd}).`);
    else {
      present.add(name);
      versions.push(version);
    }
  }
  if (!HAS_GNU_TIME) notes.push('GNU time is not installed (apt-get install time): no peak RSS.');
  return { present, versions };
}

/** `backup assemble` exists when its help names --from (before it, "assemble" parses as a source folder). */
function hasAssemble() {
  const out = spawnSync(NODE, [MAIN, 'assemble', '--help'], { encoding: 'utf8' });
  return out.status === 0 && out.stdout.includes('--from');
}

// ---- workloads ------------------------------------------------------------------------------------

function workloads(mode, src) {
  const spec = SPECS[mode];
  const count = (n) => n.toLocaleString('en-US');
  const mib = (b) => `${b / 2 ** 20} MiB`;
  const size = spec.mirror.size >= GiB ? `${spec.mirror.size / GiB} GiB` : mib(spec.mirror.size);
  const mirrors = Array.from({ length: spec.mirror.copies }, (_, i) => path.join(src, `mirrors/m${i + 1}`));
  return [
    {
      id: 'small',
      title: `${count(spec.small.count)} small files, full copy`,
      kind: 'copy',
      source: path.join(src, 'small'),
      tools: Object.keys(COPY_TOOLS),
      targets: [
        { kind: 'ratio', peer: 'cp -a', max: 0.8 },
        { kind: 'rss', maxMb: 150 },
      ],
    },
    {
      id: 'large',
      title: `${spec.large.count} × ${mib(spec.large.size)}, full copy`,
      kind: 'copy',
      source: path.join(src, 'large'),
      tools: Object.keys(COPY_TOOLS),
      targets: [{ kind: 'ratio', peer: 'cp -a', max: 1.0 }],
    },
    {
      id: 'mixed',
      title: `${spec.mixed.count} mixed files (${mib(spec.mixed.min)}–${mib(spec.mixed.max)}), full copy`,
      kind: 'copy',
      source: path.join(src, 'mixed'),
      tools: Object.keys(COPY_TOOLS),
      targets: [{ kind: 'ratio', peer: 'cp -a', max: 1.0 }],
    },
    {
      id: 'noop',
      title: `no-op rerun over the ${count(spec.small.count)} files`,
      kind: 'rerun',
      source: path.join(src, 'small'),
      tools: ['backupd', 'rsync -a', 'rclone --transfers 8', WALK_FLOOR],
      targets: [{ kind: 'ratio', peer: 'rsync -a', max: 1.0 }],
    },
    {
      id: 'assemble',
      title: `assemble ${size} from ${spec.mirror.copies} mirrors`,
      kind: 'assemble',
      mirrors,
      tools: ['backupd', 'cp'],
      targets: [{ kind: 'ratio', peer: 'cp', max: 1.2 }],
    },
  ];
}

/** The command of `tool` for one run of `workload`, writing into the fresh filesystem at `dest`. */
function commandFor(workload, tool, dest) {
  if (tool === WALK_FLOOR) return walkFloor(workload.source, path.join(dest, 'out'));
  if (workload.kind !== 'assemble') return COPY_TOOLS[tool](workload.source, path.join(dest, 'out'));
  const out = path.join(dest, 'big.bin');
  if (tool === 'cp') return ['cp', [path.join(workload.mirrors[0], 'big.bin'), out]];
  return [NODE, [MAIN, 'assemble', 'big.bin', '--from', ...workload.mirrors, '-o', out, '--quiet']];
}

function expectedTotals(workload, mode, expected) {
  if (workload.kind === 'assemble') return { files: 1, bytes: SPECS[mode].mirror.size };
  return expected[workload.id === 'noop' ? 'small' : workload.id];
}

/** What a run left in dest; a tool that did not copy everything must not look fast. */
function checkCopy(workload, dest, want) {
  const got = workload.kind === 'assemble' ? { files: 1, bytes: fs.statSync(path.join(dest, 'big.bin')).size } : countTree(path.join(dest, 'out'));
  if (got.files !== want.files || got.bytes !== want.bytes) return `incomplete copy: ${got.files} files/${got.bytes} bytes, expected ${want.files}/${want.bytes}`;
  return undefined;
}

async function runOnce(workload, tool, destFs, want) {
  const dest = destFs.fresh();
  if (workload.kind === 'rerun') {
    const first = await timed(...commandFor(workload, tool, dest));
    if (first.code !== 0) return { error: `first copy exited ${first.code}: ${first.stderr}` };
    syncfs(dest); // the rerun must not pay for the first copy's writeback
  }
  const [cmd, args] = commandFor(workload, tool, dest);
  warm(workload.kind === 'assemble' ? workload.mirrors : [workload.source]);
  const result = await timed(cmd, args);
  const syncMs = syncTime(dest);
  if (result.code !== 0) return { error: `exited ${result.code}: ${result.stderr.split('\n').slice(0, 3).join(' / ')}` };
  const problem = checkCopy(workload, dest, want);
  if (problem !== undefined) return { error: problem };
  return { ms: result.ms, syncMs, rssKb: result.rssKb, cpuMs: result.cpuMs };
}

async function runWorkload(workload, options, destFs, want, present) {
  const tools = workload.tools.map((name) => ({ name, runs: [], note: undefined }));
  const active = tools.filter((t) => present.has(t.name === 'cp' ? 'cp -a' : t.name));
  for (const t of tools) if (!active.includes(t)) t.note = 'not installed';
  // One untimed run first: whoever ran first after the data was made (or after the last workload's
  // gigabytes) paid for the kernel reclaiming memory, up to 9 s of CPU for a 1 s copy.
  if (active.length > 0 && options.mode !== 'quick') await runOnce(workload, active[0].name, destFs, want);
  for (let round = 0; round < options.runs; round++) {
    // Rotate the order every round, so no tool always runs first (or right after the same neighbour).
    const order = active.map((_, i) => active[(i + round) % active.length]);
    for (const tool of order) {
      if (tool.note !== undefined) continue;
      const run = await runOnce(workload, tool.name, destFs, want);
      if (run.error !== undefined) {
        tool.note = `failed: ${run.error}`;
        tool.runs = [];
        log(`[${workload.id}] ${tool.name}: ${tool.note}`);
        continue;
      }
      tool.runs.push(run);
      log(`[${workload.id}] round ${round + 1}/${options.runs} ${tool.name}: ${(run.ms / 1000).toFixed(3)} s (+syncfs ${(run.syncMs / 1000).toFixed(3)} s), ${((run.rssKb ?? 0) / 1024).toFixed(0)} MB`);
    }
  }
  return { ...workload, tools };
}

async function measureStartup(runs) {
  const ours = [];
  const bare = [];
  for (let i = 0; i < runs; i++) {
    ours.push((await timed(NODE, [MAIN, '--version'])).ms);
    bare.push((await timed(NODE, ['-e', '0'])).ms);
  }
  return { backupd: median(ours), node: median(bare), runs };
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  requireRoot('bench');
  ensureBuilt();
  const notes = [];
  const { present, versions } = detectTools(notes);
  const files = layout(SPECS[options.mode]);
  const expected = totals(files);
  const source = mountSource(options.mode);

  const biggest = Math.max(...Object.values(expected).map((t) => t.bytes));
  const destBytes = Math.ceil(biggest * 1.15) + GiB / 2;
  const destFs = makeDestFs(destBytes);
  const cleanup = () => {
    destFs.dispose();
    source.release();
  };
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });

  const load = { start: loadAverage(), end: '' };
  const started = Date.now();
  const results = [];
  let startup;
  try {
    let all = workloads(options.mode, source.mountpoint);
    if (options.only !== undefined) all = all.filter((w) => options.only.includes(w.id));
    for (const workload of all) {
      if (workload.kind === 'assemble' && !hasAssemble()) {
        notes.push('`backup assemble` is not in this build (its --help does not list --from): the assemble row is skipped.');
        continue;
      }
      results.push(await runWorkload(workload, options, destFs, expectedTotals(workload, options.mode, expected), present));
    }
    if (options.only === undefined || options.only.includes('startup')) startup = await measureStartup(options.mode === 'quick' ? 5 : 20);
  } finally {
    cleanup();
  }
  load.end = loadAverage();

  const machine = machineInfo();
  const setup = [
    `Runs: ${options.runs} per tool and workload, tools alternating in a rotating order, after one untimed warm-up run per workload; total bench time ${((Date.now() - started) / 60000).toFixed(1)} min.`,
    'Dest: a fresh ext4 for every single run (umount, `mkfs.ext4 -E lazy_itable_init=0,lazy_journal_init=0`, mount; ' +
      `loop image backed by ${destFs.backing}). Source: ext4 image on a loop device (direct I/O), mounted read-only.`,
    'Source warm: every source file is read once right before each timed run (page cache warm for all tools).',
    'Time: wall clock from spawn to exit of the command alone (includes process start-up; no sync). ' +
      '"incl. syncfs" adds a timed `sync -f dest` right after the command: the cost of getting the data to the device. ' +
      'No-op rerun: dest first filled by the same tool (untimed, then syncfs), then the rerun is timed. ' +
      `"${WALK_FLOOR}" is bench/walk-floor.mjs over a dest filled by cp -a: readdir + lstat of both trees in Node, nothing else.`,
    'Peak RSS and CPU: GNU time %M (the largest process, threads included) and %U + %S of the command.',
    'backupd runs as `node dist/cli/main.js <src> <dest> --quiet` (default threads); cp as `cp -a`, rsync as `rsync -a src/ dest/`, ' +
      'rclone as `rclone copy --transfers 8` (rclone keeps no mode or owner; the others keep mode, owner and mtime).',
  ];
  const report = renderReport({
    mode: options.mode,
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    machine,
    setup,
    versions,
    results,
    startup,
    notes,
    load,
  });
  process.stdout.write(report);
  const out = path.join(ROOT, options.mode === 'quick' ? 'bench/.data/latest-quick.md' : 'bench/results/latest.md');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, report);
  log(`written to ${path.relative(ROOT, out)}`);
}

await main();
