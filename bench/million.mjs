#!/usr/bin/env node
/**
 * A backup of 1,000,000 small files: wall time and peak RSS of the first run and of a run with nothing to
 * do, and what the in-memory plan costs per entry (to decide whether the planner must stream).
 *
 *   node bench/million.mjs [--files 1000000] [--per-folder 1000] [--skip-plan-cost] [--snapshot [--restore]] [--cli <main.js>] [--keep]
 *
 * --skip-plan-cost: leave out the whole-tree plan's measurement (at 10,000,000 files it alone needs GiBs).
 * --snapshot: back up into a snapshot dest (`--snapshot`): the second run then takes a second snapshot.
 * --restore (with --snapshot): then `backup restore` of the latest snapshot into a new folder, and again
 *   with --overwrite over that folder (nothing to restore: the no-op).
 * --cli: another build's dist/cli/main.js (an A/B of memory or time).
 *
 * Needs root: the trees live on a fresh loop-mounted ext4 image with enough inodes (inline_data keeps
 * files of a few bytes inside their inode, so 2 x 1M files fit in a few GiB). Run `npm run build` first.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const BACKUP = fileURLToPath(new URL('../dist/backup/backup.js', import.meta.url));
const { values } = parseArgs({
  options: {
    files: { type: 'string', default: '1000000' },
    'per-folder': { type: 'string', default: '1000' },
    keep: { type: 'boolean', default: false },
    'skip-plan-cost': { type: 'boolean', default: false },
    snapshot: { type: 'boolean', default: false },
    restore: { type: 'boolean', default: false },
    cli: { type: 'string' },
  },
});
const CLI = values.cli ?? fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const FILES = Number(values.files);
const PER_FOLDER = Number(values['per-folder']);

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'million-'));
const image = path.join(work, 'fs.img');
const mnt = path.join(work, 'mnt');

function sh(cmd, args) {
  return execFileSync(cmd, args, { encoding: 'utf8' });
}

function mountImage() {
  fs.mkdirSync(mnt);
  // Both trees' inodes (256 bytes each, the data inline) and folders, with room to spare; a restore makes a third.
  const inodes = Math.ceil(FILES * (values.restore ? 3.3 : 2.2));
  const gib = Math.max(6, Math.ceil((inodes * 256 * 1.5) / 2 ** 30) + 2);
  sh('truncate', ['-s', `${gib}G`, image]);
  sh('mkfs.ext4', ['-q', '-F', '-N', String(inodes), '-I', '256', '-O', 'inline_data', image]);
  sh('mount', ['-o', 'loop', image, mnt]);
}

function cleanUp() {
  if (values.keep) return console.log(`kept ${mnt} (umount it and remove ${work} when done)`);
  spawnSync('umount', ['-l', mnt]);
  fs.rmSync(work, { recursive: true, force: true });
}

function makeTree(source) {
  const started = performance.now();
  for (let i = 0; i < FILES; i++) {
    if (i % PER_FOLDER === 0) fs.mkdirSync(path.join(source, `d${i / PER_FOLDER}`), { recursive: true });
    fs.writeFileSync(path.join(source, `d${Math.floor(i / PER_FOLDER)}`, `f${i}`), `${i}\n`);
  }
  return (performance.now() - started) / 1000;
}

function timedBackup(source, dest) {
  return timedCli([source, dest, '--json', ...(values.snapshot ? ['--snapshot'] : [])]);
}

function timedRestore(dest, to, overwrite) {
  return timedCli(['restore', dest, '--to', to, '--json', ...(overwrite ? ['--overwrite'] : [])]);
}

/** Runs the CLI under /usr/bin/time: wall seconds, peak RSS in MiB, the JSON summary. */
function timedCli(cliArgs) {
  const args = [CLI, ...cliArgs];
  const result = spawnSync('/usr/bin/time', ['-f', '%e %M', process.execPath, ...args], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const [wall, rssKiB] = result.stderr.trim().split('\n').at(-1).split(' ').map(Number);
  const summary = JSON.parse(result.stdout);
  return { wallS: wall, peakRssMiB: Math.round(rssKiB / 1024), copied: summary.filesCopied, skipped: summary.filesSkipped, failed: summary.filesFailed, exit: result.status };
}

/** Heap held by planBackup's result, per source entry (both trees are walked; dest is empty here). */
function planCost(source, dest) {
  const script = `
    const { planBackup } = await import(${JSON.stringify(BACKUP)});
    globalThis.gc(); const before = process.memoryUsage();
    const t = performance.now();
    const planned = planBackup({ source: ${JSON.stringify(source)}, dest: ${JSON.stringify(dest)}, exclude: [], delete: false, compare: 'size-mtime', keepOwner: true, hardLinks: false });
    const ms = performance.now() - t;
    globalThis.gc(); const after = process.memoryUsage();
    console.log(JSON.stringify({ entries: planned.plan.filesTotal, actions: planned.plan.actions.length, planMs: Math.round(ms),
      heapMiB: Math.round((after.heapUsed - before.heapUsed) / 2 ** 20), bytesPerEntry: Math.round((after.heapUsed - before.heapUsed) / planned.plan.filesTotal) }));`;
  const result = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout);
}

try {
  mountImage();
  const source = path.join(mnt, 'src');
  const dest = path.join(mnt, 'dest');
  console.log(`creating ${FILES} files in folders of ${PER_FOLDER}...`);
  console.log(`created in ${makeTree(source).toFixed(1)} s`);
  const plan = values['skip-plan-cost'] ? undefined : planCost(source, path.join(mnt, 'nonexistent'));
  if (plan !== undefined) console.log('plan (new dest):', plan);
  const first = timedBackup(source, dest);
  console.log('first run:', first);
  const second = timedBackup(source, dest);
  console.log('second run (nothing to copy):', second);
  const restores = values.restore ? [timedRestore(dest, path.join(mnt, 'restored'), false), timedRestore(dest, path.join(mnt, 'restored'), true)] : undefined;
  if (restores !== undefined) console.log('restore:', restores[0], '\nrestore again (nothing to restore):', restores[1]);
  console.log(JSON.stringify({ files: FILES, plan, first, second, ...(restores === undefined ? {} : { restore: restores[0], restoreAgain: restores[1] }) }));
} finally {
  cleanUp();
}
