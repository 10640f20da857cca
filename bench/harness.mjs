/**
 * What the runner and the profiler share: paths, the source and dest filesystems, warming, timing.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DATA_DIR, ensureSourceImage } from './generate.mjs';
import { FreshFs, attach, mount, release, syncfs } from './loop-fs.mjs';

export const ROOT = fileURLToPath(new URL('../', import.meta.url));
export const MAIN = path.join(ROOT, 'dist/cli/main.js');
export const NODE = process.execPath;
const GNU_TIME = '/usr/bin/time';
export const HAS_GNU_TIME = fs.existsSync(GNU_TIME);
const GiB = 2 ** 30;

export const log = (line) => process.stderr.write(`${line}\n`);

export function requireRoot(what) {
  if (process.getuid?.() !== 0) {
    log(`${what}: needs root (it makes and loop-mounts ext4 images)`);
    process.exit(2);
  }
}

/** The source data of `mode`, generated if needed, mounted read-only. Returns { mountpoint, release }. */
export function mountSource(mode) {
  const source = ensureSourceImage(mode, log);
  release(source.mountpoint, source.image);
  const device = attach(source.image, { directIo: true });
  mount(device, source.mountpoint, { readOnly: true });
  return { mountpoint: source.mountpoint, release: () => release(source.mountpoint, source.image) };
}

/** Dest images on tmpfs when there is room: no disk writeback from other processes in the timings. */
export function makeDestFs(bytes) {
  let file = path.join(DATA_DIR, 'dest.img');
  let backing = 'the disk holding bench/.data';
  try {
    const stat = fs.statfsSync('/dev/shm');
    if (stat.bavail * stat.bsize > bytes + 4 * GiB) {
      file = path.join('/dev/shm', `backupd-bench-dest-${process.pid}.img`);
      backing = 'tmpfs';
    }
  } catch {
    // no /dev/shm: keep the data folder
  }
  const destFs = new FreshFs(file, bytes, path.join(DATA_DIR, 'mnt', 'dest'));
  destFs.backing = backing;
  return destFs;
}

/** Reads every file under `dirs` once, so each run starts from the same warm page cache. */
export function warm(dirs) {
  const buffer = Buffer.allocUnsafe(1 << 20);
  const visit = (dir) => {
    for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, d.name);
      if (d.isDirectory()) visit(full);
      else if (d.isFile()) {
        const fd = fs.openSync(full, 'r');
        while (fs.readSync(fd, buffer, 0, buffer.length, null) > 0);
        fs.closeSync(fd);
      }
    }
  };
  for (const dir of dirs) visit(dir);
}

/** Regular files and their bytes under `dir`: a complete copy must match the source's totals. */
export function countTree(dir) {
  let files = 0;
  let bytes = 0;
  for (const d of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (d.isFile()) {
      files++;
      bytes += fs.statSync(path.join(d.parentPath, d.name)).size;
    }
  }
  return { files, bytes };
}

/** Wall time from spawn to exit; peak RSS (kB) and CPU time (user + sys) from GNU time when it is installed. */
export function timed(cmd, args) {
  const rssFile = path.join(os.tmpdir(), `backupd-bench-rss-${process.pid}`);
  const [file, argv] = HAS_GNU_TIME ? [GNU_TIME, ['-f', '%M %U %S', '-o', rssFile, cmd, ...args]] : [cmd, args];
  return new Promise((resolve, reject) => {
    let stderr = '';
    const started = process.hrtime.bigint();
    const child = spawn(file, argv, { stdio: ['ignore', 'ignore', 'pipe'], cwd: ROOT });
    child.stderr.on('data', (data) => (stderr += data));
    child.on('error', reject);
    child.on('exit', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      child.on('close', () => {
        let rssKb;
        let cpuMs;
        if (HAS_GNU_TIME) {
          const [rss, user, sys] = fs.readFileSync(rssFile, 'utf8').trim().split('\n').at(-1).split(' ').map(Number);
          rssKb = rss;
          cpuMs = (user + sys) * 1000;
        }
        resolve({ ms, code, rssKb, cpuMs, stderr: stderr.trim() });
      });
    });
  });
}

export function syncTime(dir) {
  const started = process.hrtime.bigint();
  syncfs(dir);
  return Number(process.hrtime.bigint() - started) / 1e6;
}

/** Benchmarks what src/ says now: rebuild dist/ when any source file is newer than the build. */
export function ensureBuilt() {
  const built = fs.existsSync(MAIN) ? fs.statSync(MAIN).mtimeMs : 0;
  const newest = (dir) =>
    fs.readdirSync(dir, { withFileTypes: true, recursive: true }).reduce((max, d) => (d.isFile() ? Math.max(max, fs.statSync(path.join(d.parentPath, d.name)).mtimeMs) : max), 0);
  if (newest(path.join(ROOT, 'src')) > built) {
    log('building dist/ (older than src/)');
    spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  }
}

export function gitCommit() {
  const out = spawnSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  const dirty = spawnSync('git', ['-C', ROOT, 'status', '--porcelain', 'src'], { encoding: 'utf8' }).stdout.trim() !== '';
  return `${out.stdout.trim()}${dirty ? ' + uncommitted src/ changes' : ''}`;
}
