/**
 * Snapshot benchmark (issue 9), side by side with rsync in one run, every measurement in a freshly made
 * ext4 filesystem (loop image on tmpfs when there is room):
 *
 *   1. a snapshot of 20,000 unchanged small files after the first: `backup --snapshot` vs
 *      `rsync -a --link-dest=<previous>` into a new folder (target <= 1.0x), and the new snapshot's own
 *      disk use (target < 2 % of the tree);
 *   2. the no-op rerun with --snapshot vs a plain no-op `rsync -a` of the same tree;
 *   3. a 500 MiB folder renamed in the source: bytes the next snapshot copies (target: almost none),
 *      beside rsync --link-dest, which copies it again;
 *   4. `backup snapshots` and `backup versions` over 100 snapshots of the 20,000 files (targets 0.5 s, 1 s).
 *
 *   sudo node bench/snapshots.mjs [--runs 3] [--files 20000] [--snapshots 100] [--moved-mib 500]
 *
 * Prints a Markdown table on stdout and writes it to bench/results/snapshots.md; each measurement is
 * logged on stderr as soon as it is done. BACKUPD_BENCH_CLI=<main.js> benchmarks a copied build, so that
 * rebuilding the worktree meanwhile cannot disturb a long run.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { MAIN as WORKTREE_MAIN, NODE, ROOT, log, makeDestFs, requireRoot, timed } from './harness.mjs';
import { syncfs } from './loop-fs.mjs';
import { loadAverage, machineInfo, median, toolVersion } from './report.mjs';

const MiB = 2 ** 20;
const MAIN = process.env.BACKUPD_BENCH_CLI ?? WORKTREE_MAIN;

function parseArgs(argv) {
  const value = (name, fallback) => {
    const i = argv.indexOf(name);
    return i >= 0 ? Number(argv[i + 1]) : fallback;
  };
  return { runs: value('--runs', 3), files: value('--files', 20_000), snapshots: value('--snapshots', 100), movedMib: value('--moved-mib', 500) };
}

/** `files` small files (100 B - 4 KiB) in folders of 100. */
function makeSmallTree(root, files) {
  for (let i = 0; i < files; i++) {
    const folder = path.join(root, `d${Math.floor(i / 100)}`);
    if (i % 100 === 0) fs.mkdirSync(folder, { recursive: true });
    fs.writeFileSync(path.join(folder, `f${i}.txt`), `file ${i} `.repeat(10 + ((i * 7919) % 400)));
  }
}

function makeBigFolder(root, mib) {
  fs.mkdirSync(root, { recursive: true });
  const chunk = Buffer.alloc(10 * MiB);
  for (let i = 0; i * 10 < mib; i++) {
    chunk.writeUInt32LE(i, 0);
    fs.writeFileSync(path.join(root, `part${i}.bin`), chunk.subarray(0, Math.min(10, mib - i * 10) * MiB));
  }
}

function usedBytes(dir) {
  const s = fs.statfsSync(dir);
  return (s.blocks - s.bfree) * s.bsize;
}

/** The tree's bytes: apparent (the sum of file sizes), or `allocated` (its disk use, as du counts it). */
function treeBytes(dir, { allocated = false } = {}) {
  const out = spawnSync('du', ['-s', '-B1', ...(allocated ? [] : ['--apparent-size']), dir], { encoding: 'utf8' });
  return Number(out.stdout.split('\t')[0]);
}

function backup(args) {
  return [NODE, [MAIN, ...args, '--quiet']];
}

function run(cmd, args) {
  const out = spawnSync(cmd, args, { encoding: 'utf8', cwd: ROOT });
  if (out.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${out.status}): ${out.stderr}`);
  return out.stdout;
}

async function time(cmd, args, fsDir) {
  syncfs(fsDir);
  const result = await timed(cmd, args);
  if (result.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result.ms;
}

async function unchangedSnapshot(destFs, files) {
  const mnt = destFs.fresh();
  const src = path.join(mnt, 'src');
  makeSmallTree(src, files);
  const tree = treeBytes(src);
  const treeDisk = treeBytes(src, { allocated: true });
  // backupd: the first snapshot, then the measured one.
  run(...backup([src, path.join(mnt, 'b'), '--snapshot']));
  syncfs(mnt);
  const before = usedBytes(mnt);
  const backupdMs = await time(...backup([src, path.join(mnt, 'b'), '--snapshot']), mnt);
  syncfs(mnt);
  const snapshotUse = usedBytes(mnt) - before;
  // rsync --link-dest, the way rsnapshot and Time-Machine-like scripts do it.
  fs.mkdirSync(path.join(mnt, 'r'));
  run('rsync', ['-a', `${src}/`, path.join(mnt, 'r/1/')]);
  const before2 = usedBytes(mnt);
  const rsyncMs = await time('rsync', ['-a', '--link-dest=../1', `${src}/`, path.join(mnt, 'r/2/')], mnt);
  syncfs(mnt);
  const rsyncUse = usedBytes(mnt) - before2;
  // The no-op rerun: a third snapshot of the same tree vs a no-op rsync -a into a plain mirror.
  run('rsync', ['-a', `${src}/`, path.join(mnt, 'm/')]);
  const noopMs = await time(...backup([src, path.join(mnt, 'b'), '--snapshot']), mnt);
  const rsyncNoopMs = await time('rsync', ['-a', `${src}/`, path.join(mnt, 'm/')], mnt);
  return { tree, treeDisk, backupdMs, snapshotUse, rsyncMs, rsyncUse, noopMs, rsyncNoopMs };
}

async function movedFolder(destFs, mib) {
  const mnt = destFs.fresh();
  const src = path.join(mnt, 'src');
  makeSmallTree(src, 1000);
  makeBigFolder(path.join(src, 'videos'), mib);
  run(...backup([src, path.join(mnt, 'b'), '--snapshot']));
  fs.mkdirSync(path.join(mnt, 'r'));
  run('rsync', ['-a', `${src}/`, path.join(mnt, 'r/1/')]);
  fs.renameSync(path.join(src, 'videos'), path.join(src, 'videos-2026'));
  syncfs(mnt);
  let before = usedBytes(mnt);
  const summary = JSON.parse(run(NODE, [MAIN, src, path.join(mnt, 'b'), '--snapshot', '--delete', '--json']));
  syncfs(mnt);
  const backupdWritten = usedBytes(mnt) - before;
  before = usedBytes(mnt);
  const rsyncMs = await time('rsync', ['-a', '--link-dest=../1', `${src}/`, path.join(mnt, 'r/2/')], mnt);
  syncfs(mnt);
  return { bytesCopied: summary.bytesCopied, movedLinked: summary.snapshot.movedLinked, backupdMs: summary.durationMs, backupdWritten, rsyncMs, rsyncWritten: usedBytes(mnt) - before };
}

async function history(destFs, files, snapshots, runs) {
  const mnt = destFs.fresh();
  const src = path.join(mnt, 'src');
  const dest = path.join(mnt, 'b');
  makeSmallTree(src, files);
  const tracked = path.join(src, 'd0/f0.txt');
  const started = Date.now();
  for (let i = 0; i < snapshots; i++) {
    // Ten files change between snapshots, one of them the file whose versions are asked for.
    for (let k = 0; k < 10; k++) fs.writeFileSync(k === 0 ? tracked : path.join(src, `d${1 + k}/f${(1 + k) * 100}.txt`), `version ${i} of ${k}\n`);
    run(...backup([src, dest, '--snapshot']));
    if (i % 10 === 9) log(`  ${i + 1} snapshots (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  }
  const list = [];
  const versions = [];
  for (let r = 0; r < runs; r++) {
    list.push(await time(NODE, [MAIN, 'snapshots', dest, '--json'], mnt));
    versions.push(await time(NODE, [MAIN, 'versions', dest, 'd0/f0.txt', '--json'], mnt));
  }
  const listed = JSON.parse(run(NODE, [MAIN, 'snapshots', dest, '--json'])).length;
  const versionCount = JSON.parse(run(NODE, [MAIN, 'versions', dest, 'd0/f0.txt', '--json'])).length;
  const startup = [];
  for (let r = 0; r < runs; r++) startup.push(await time(NODE, [MAIN, '--version'], mnt));
  return { listMs: median(list), versionsMs: median(versions), listed, versionCount, startupMs: median(startup) };
}

const s = (ms) => `${(ms / 1000).toFixed(3)} s`;
const mib = (bytes) => `${(bytes / MiB).toFixed(1)} MiB`;

async function main() {
  requireRoot('bench/snapshots.mjs');
  const options = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(MAIN)) run('npm', ['run', 'build']);
  log(`benchmarking ${MAIN}`);
  const loadBefore = loadAverage();
  const destFs = makeDestFs(4 * 2 ** 30);
  try {
    const unchanged = [];
    for (let r = 0; r < options.runs; r++) {
      log(`unchanged snapshot, run ${r + 1}/${options.runs}`);
      unchanged.push(await unchangedSnapshot(destFs, options.files));
      log(`  ${JSON.stringify(unchanged.at(-1))}`);
    }
    log('moved folder');
    const moved = await movedFolder(destFs, options.movedMib);
    log(`  ${JSON.stringify(moved)}`);
    log(`history of ${options.snapshots} snapshots`);
    const hist = await history(destFs, options.files, options.snapshots, options.runs);
    log(`  ${JSON.stringify(hist)}`);
    const m = (key) => median(unchanged.map((u) => u[key]));
    const tree = m('tree');
    const treeDisk = m('treeDisk');
    const share = (bytes) => `${((100 * bytes) / tree).toFixed(2)} % of its bytes, ${((100 * bytes) / treeDisk).toFixed(2)} % of its disk use`;
    const lines = [
      `# Snapshot benchmark (${new Date().toISOString()})`,
      '',
      `Machine: ${Object.values(machineInfo()).join(', ')}; load average ${loadBefore} before, ${loadAverage()} after `
        + '(shared with other engineers\' builds and tests: absolute times are inflated and noisy; the ratios come from runs interleaved in one process).',
      `Dest: a fresh ext4 per measurement (loop image on ${destFs.backing}). ${toolVersion('rsync')}. Medians of ${options.runs} runs, wall clock, after a syncfs.`,
      '',
      '| measurement | backupd | rsync | ratio | target |',
      '|---|---|---|---|---|',
      `| snapshot of ${options.files} unchanged files after the first (vs rsync -a --link-dest into a new folder) | ${s(m('backupdMs'))} | ${s(m('rsyncMs'))} | ${(m('backupdMs') / m('rsyncMs')).toFixed(2)}x | <= 1.0x |`,
      `| disk used by that new snapshot (tree: ${mib(tree)} of file bytes, ${mib(treeDisk)} on disk) | ${mib(m('snapshotUse'))} (${share(m('snapshotUse'))}) | ${mib(m('rsyncUse'))} (${share(m('rsyncUse'))}) | | < 2 % |`,
      `| no-op rerun --snapshot (a new snapshot) vs no-op rsync -a into a mirror | ${s(m('noopMs'))} | ${s(m('rsyncNoopMs'))} | ${(m('noopMs') / m('rsyncNoopMs')).toFixed(2)}x | report |`,
      `| ${options.movedMib} MiB folder renamed: next snapshot | ${mib(moved.bytesCopied)} copied, ${moved.movedLinked} files linked, ${mib(moved.backupdWritten)} written, ${s(moved.backupdMs)} | ${mib(moved.rsyncWritten)} written, ${s(moved.rsyncMs)} | | ~0 bytes |`,
      `| backup snapshots over ${hist.listed} snapshots of ${options.files} files | ${s(hist.listMs)} | | | < 0.5 s |`,
      `| backup versions of one path over ${hist.listed} snapshots (${hist.versionCount} versions) | ${s(hist.versionsMs)} | | | < 1 s |`,
      `| (node start-up: backup --version) | ${s(hist.startupMs)} | | | |`,
      '',
    ];
    const report = lines.join('\n');
    process.stdout.write(`${report}\n`);
    fs.mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
    fs.writeFileSync(path.join(ROOT, 'bench/results/snapshots.md'), `${report}\n`);
  } finally {
    destFs.dispose();
  }
}

await main();
