/**
 * Sparse files (issue 10): one 5 GiB file holding 5 MiB of data, copied by backupd, cp -a and rsync -aS,
 * side by side, each into a fresh ext4. Reports the wall time, the dest file's allocated size and how
 * much of the source file is in the page cache after the copy (fincore; holes read as zeros fill it,
 * skipped holes do not).
 *
 *   node bench/sparse.mjs [--runs n]     (root: loop devices)
 *
 * The source lives on its own fresh ext4, written once; its page cache is dropped before every run
 * (echo 1 > drop_caches), so each tool starts cold and what fincore finds cached is what it read.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { MAIN, NODE, log, makeDestFs, requireRoot, timed } from './harness.mjs';
import { FreshFs } from './loop-fs.mjs';
import { loadAverage, machineInfo, median } from './report.mjs';

const GiB = 2 ** 30;
const MiB = 2 ** 20;
const SIZE = 5 * GiB;
const DATA = 5 * MiB;

const TOOLS = {
  backupd: (src, dst) => [NODE, [MAIN, src, dst, '--quiet']],
  // backupd's fixed cost on this machine right now: Node, the walk, the copy threads, for one tiny file.
  'backupd, 1 tiny file': (src, dst) => [NODE, [MAIN, path.join(path.dirname(src), 'tiny'), dst, '--quiet']],
  'cp -a': (src, dst) => ['cp', ['-a', src, dst]],
  'rsync -aS': (src, dst) => ['rsync', ['-aS', `${src}/`, `${dst}/`]],
};

/** Bytes of `file` in the page cache (a global Cached delta would count the other engineers' work too). */
function residentBytes(file) {
  return Number(execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', file], { encoding: 'utf8' }).trim());
}

function makeSource(dir) {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'disk.img');
  const fd = fs.openSync(file, 'w');
  fs.ftruncateSync(fd, SIZE);
  // Five 1 MiB extents spread over the file, like a VM image that was barely used.
  const block = Buffer.alloc(MiB, 0x5a);
  for (let i = 0; i < DATA / MiB; i++) fs.writeSync(fd, block, 0, MiB, Math.floor((SIZE / (DATA / MiB)) * i));
  fs.fsyncSync(fd);
  fs.closeSync(fd);
}

async function main() {
  requireRoot('bench/sparse.mjs');
  const runsAt = process.argv.indexOf('--runs');
  const runs = runsAt >= 0 ? Number(process.argv[runsAt + 1]) : 5;
  const sourceFs = new FreshFs(path.join('/dev/shm', `backupd-bench-sparse-src-${process.pid}.img`), 2 * GiB, '/tmp/backupd-bench-sparse-src');
  const destFs = makeDestFs(2 * GiB);
  const loadBefore = loadAverage();
  const results = Object.fromEntries(Object.keys(TOOLS).map((t) => [t, []]));
  try {
    const srcRoot = sourceFs.fresh();
    makeSource(path.join(srcRoot, 'src'));
    fs.mkdirSync(path.join(srcRoot, 'tiny'));
    fs.writeFileSync(path.join(srcRoot, 'tiny/disk.img'), 'x');
    for (let round = 0; round < runs; round++) {
      const names = Object.keys(TOOLS);
      for (const name of names.map((_, i) => names[(i + round) % names.length])) {
        const dest = destFs.fresh();
        fs.writeFileSync('/proc/sys/vm/drop_caches', '1');
        const [cmd, args] = TOOLS[name](path.join(srcRoot, 'src'), path.join(dest, 'out'));
        const run = await timed(cmd, args);
        const cachedMb = residentBytes(path.join(srcRoot, 'src/disk.img')) / MiB;
        if (run.code !== 0) throw new Error(`${name} exited ${run.code}: ${run.stderr}`);
        const copy = fs.statSync(path.join(dest, 'out/disk.img'));
        if (copy.size !== (name.includes('tiny') ? 1 : SIZE)) throw new Error(`${name}: copy has ${copy.size} bytes`);
        results[name].push({ ms: run.ms, allocatedMb: (copy.blocks * 512) / MiB, cachedMb, cpuMs: run.cpuMs });
        log(`round ${round + 1}/${runs} ${name}: ${(run.ms / 1000).toFixed(3)} s, ${((copy.blocks * 512) / MiB).toFixed(1)} MiB allocated, source in page cache ${cachedMb.toFixed(1)} MiB`);
      }
    }
  } finally {
    destFs.dispose();
    sourceFs.dispose();
  }
  const cp = median(results['cp -a'].map((r) => r.ms));
  const lines = [
    `### sparse file: 5 GiB holding 5 MiB of data`,
    '',
    `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC · ${Object.values(machineInfo()).join(' · ')} · load ${loadBefore} → ${loadAverage()} · ${runs} runs, tools rotating, source cache dropped before each`,
    '',
    '| tool | median s | dest allocated MiB | source in page cache MiB | CPU s | ÷ cp -a |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const [name, rs] of Object.entries(results)) {
    const ms = median(rs.map((r) => r.ms));
    lines.push(
      `| ${name} | ${(ms / 1000).toFixed(3)} | ${median(rs.map((r) => r.allocatedMb)).toFixed(1)} | ${median(rs.map((r) => r.cachedMb)).toFixed(1)} | ${(median(rs.map((r) => r.cpuMs ?? 0)) / 1000).toFixed(3)} | ${(ms / cp).toFixed(2)} |`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
