/**
 * Copy primitives per size class, in one thread, each into a fresh ext4: a read/write loop (several
 * chunk sizes) against fs.copyFileSync (libuv: copy_file_range, in-kernel). Answers "which primitive for
 * which file size" for src/copy/copy-file.ts with numbers from this machine.
 *
 *   node bench/copy-methods.mjs [--quick] [--runs n]     (root)
 *
 * Every method writes the same files, ends with fchmod + futimes on the descriptor like backupd does, and
 * alternates with the others round by round. The time excludes syncfs (printed separately).
 */
import fs from 'node:fs';
import path from 'node:path';
import { SPECS, layout } from './data-spec.mjs';
import { log, makeDestFs, mountSource, requireRoot, syncTime, warm } from './harness.mjs';
import { median } from './report.mjs';

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;

function loopCopy(chunkSize) {
  const buffer = Buffer.allocUnsafe(chunkSize);
  return (src, dst) => {
    const from = fs.openSync(src, O_RDONLY | O_NOFOLLOW);
    const to = fs.openSync(dst, O_WRONLY | O_CREAT | O_EXCL, 0o600);
    const stat = fs.fstatSync(from);
    for (let position = 0; ; ) {
      const read = fs.readSync(from, buffer, 0, chunkSize, position);
      if (read === 0) break;
      for (let written = 0; written < read; ) written += fs.writeSync(to, buffer, written, read - written, position + written);
      position += read;
    }
    fs.fchmodSync(to, stat.mode & 0o7777);
    fs.futimesSync(to, stat.atimeMs / 1000, stat.mtimeMs / 1000);
    fs.closeSync(to);
    fs.closeSync(from);
  };
}

function kernelCopy(src, dst) {
  fs.copyFileSync(src, dst, fs.constants.COPYFILE_EXCL);
  const stat = fs.statSync(src);
  const to = fs.openSync(dst, O_WRONLY | O_NOFOLLOW);
  fs.fchmodSync(to, stat.mode & 0o7777);
  fs.futimesSync(to, stat.atimeMs / 1000, stat.mtimeMs / 1000);
  fs.closeSync(to);
}

const METHODS = {
  'read/write 64 KiB': loopCopy(64 << 10),
  'read/write 256 KiB': loopCopy(256 << 10),
  'read/write 1 MiB': loopCopy(1 << 20),
  'read/write 4 MiB': loopCopy(4 << 20),
  'copyFileSync (copy_file_range)': kernelCopy,
};

function classes(mode) {
  const files = layout(SPECS[mode]);
  const pick = (filter, n) => files.filter(filter).slice(0, n);
  return [
    { name: 'small (1–64 KiB), 5,000 files', files: pick((f) => f.workload === 'small', 5000) },
    { name: 'mixed (1–50 MiB), 40 files', files: pick((f) => f.workload === 'mixed', 40) },
    { name: 'large (512 MiB), 2 files', files: pick((f) => f.workload === 'large', 2) },
  ];
}

function copyAll(method, files, sourceRoot, destRoot) {
  const folders = new Set(files.map((f) => path.dirname(f.rel)));
  for (const folder of folders) fs.mkdirSync(path.join(destRoot, folder), { recursive: true });
  const started = process.hrtime.bigint();
  for (const f of files) method(path.join(sourceRoot, f.rel), path.join(destRoot, f.rel));
  return Number(process.hrtime.bigint() - started) / 1e6;
}

function main() {
  requireRoot('copy-methods');
  const quick = process.argv.includes('--quick');
  const runsAt = process.argv.indexOf('--runs');
  const runs = runsAt >= 0 ? Number(process.argv[runsAt + 1]) : 3;
  const mounted = mountSource(quick ? 'quick' : 'full');
  const destFs = makeDestFs(3 * 2 ** 30);
  try {
    process.stdout.write('| size class | method | median ms | min–max ms | syncfs median ms |\n| --- | --- | ---: | ---: | ---: |\n');
    for (const cls of classes(quick ? 'quick' : 'full')) {
      const times = new Map(Object.keys(METHODS).map((m) => [m, { ms: [], sync: [] }]));
      const names = Object.keys(METHODS);
      for (let round = 0; round < runs; round++) {
        for (let i = 0; i < names.length; i++) {
          const name = names[(i + round) % names.length];
          const dest = destFs.fresh();
          warm([...new Set(cls.files.map((f) => path.join(mounted.mountpoint, path.dirname(f.rel))))]);
          const ms = copyAll(METHODS[name], cls.files, mounted.mountpoint, dest);
          const sync = syncTime(dest);
          times.get(name).ms.push(ms);
          times.get(name).sync.push(sync);
          log(`${cls.name} / ${name}: ${ms.toFixed(0)} ms (+syncfs ${sync.toFixed(0)})`);
        }
      }
      for (const [name, t] of times) {
        process.stdout.write(`| ${cls.name} | ${name} | ${median(t.ms).toFixed(0)} | ${Math.min(...t.ms).toFixed(0)}–${Math.max(...t.ms).toFixed(0)} | ${median(t.sync).toFixed(0)} |\n`);
      }
    }
  } finally {
    destFs.dispose();
    mounted.release();
  }
}

main();
