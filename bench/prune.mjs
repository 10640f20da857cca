#!/usr/bin/env node
/**
 * `backup prune` removing one 20,000-file snapshot, side by side with `rm -rf` of that folder, on a
 * freshly made ext4 per run (loop image, see loop-fs.mjs). Two layouts: the snapshot's files hard-linked
 * from the next snapshot (the usual case: unlinking only drops a link count) and files of its own
 * (unlinking frees the inodes). Also times the removal alone, in process (removeTree), to separate it
 * from Node's start-up.
 *
 *   sudo node bench/prune.mjs [--files 20000] [--rounds 5]
 *
 * Run `npm run build` first: this drives dist/cli/main.js and imports dist/common/remove-tree.js.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { MAIN, NODE, log, makeDestFs, requireRoot, timed } from './harness.mjs';
import { syncfs } from './loop-fs.mjs';
import { loadAverage, machineInfo, median } from './report.mjs';

const { values } = parseArgs({ options: { files: { type: 'string', default: '20000' }, rounds: { type: 'string', default: '5' } } });
const FILES = Number(values.files);
const ROUNDS = Number(values.rounds);
const PER_FOLDER = 100;
const OLD = '2026-12-01T000000Z';
const NEW = '2026-12-02T000000Z';

requireRoot('bench/prune.mjs');
const { removeTree } = await import(new URL('../dist/common/remove-tree.js', import.meta.url).href);

/** A snapshot dest with OLD (FILES small files in folders of PER_FOLDER) and NEW (linked to OLD, or empty). */
function makeDest(root, linked) {
  const old = path.join(root, 'snapshots', OLD);
  fs.mkdirSync(path.join(root, '.backupd', 'manifests'), { recursive: true });
  fs.writeFileSync(path.join(root, '.backupd', 'format'), '{"format":1}\n');
  for (let i = 0; i < FILES; i++) {
    const folder = path.join(old, `d${Math.floor(i / PER_FOLDER / 10)}`, `e${Math.floor(i / PER_FOLDER)}`);
    if (i % PER_FOLDER === 0) fs.mkdirSync(folder, { recursive: true });
    fs.writeFileSync(path.join(folder, `f${i}.txt`), 'x'.repeat(100 + (i % 3000)));
  }
  if (linked) execFileSync('cp', ['-al', old, path.join(root, 'snapshots', NEW)]);
  else fs.mkdirSync(path.join(root, 'snapshots', NEW, 'x'), { recursive: true });
  syncfs(root);
  return old;
}

const contenders = {
  'rm -rf': (root, old) => timed('rm', ['-rf', old]),
  'backup prune --keep-last 1': (root) => timed(NODE, [MAIN, 'prune', root, '--keep-last', '1', '--quiet']),
  'removeTree (in process)': async (root, old) => {
    const started = process.hrtime.bigint();
    removeTree(old);
    return { ms: Number(process.hrtime.bigint() - started) / 1e6, code: 0 };
  },
};

const destFs = makeDestFs(2 ** 30);
const results = {};
try {
  for (const linked of [true, false]) {
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate the order so that no contender always runs first.
      const names = Object.keys(contenders);
      const order = names.map((_, i) => names[(i + round) % names.length]);
      for (const name of order) {
        const root = path.join(destFs.fresh(), 'dest');
        const old = makeDest(root, linked);
        const { ms, code, stderr } = await contenders[name](root, old);
        if (code !== 0 || fs.existsSync(old)) throw new Error(`${name} failed (exit ${code}): ${stderr ?? ''}`);
        ((results[linked ? 'linked' : 'own files'] ??= {})[name] ??= []).push(ms);
      }
    }
  }
} finally {
  destFs.dispose();
}

// Node's start-up, for reading the end-to-end ratio: rm is a small C program, backup starts a runtime.
const startup = { 'node -e 0': [], 'backup --version': [] };
for (let round = 0; round < ROUNDS; round++) {
  startup['node -e 0'].push((await timed(NODE, ['-e', '0'])).ms);
  startup['backup --version'].push((await timed(NODE, [MAIN, '--version'])).ms);
}

const info = machineInfo();
log(`\n${FILES} files, ${ROUNDS} rounds, fresh ext4 on ${destFs.backing} per run; ${info.cpu}, ${info.kernel}, Node ${info.node}; load ${loadAverage()}`);
log('| layout | tool | median s | min-max s | ratio to rm -rf |');
log('| --- | --- | --- | --- | --- |');
for (const [layout, byTool] of Object.entries(results)) {
  const anchor = median(byTool['rm -rf']);
  for (const [tool, times] of Object.entries(byTool)) {
    const m = median(times);
    log(`| ${layout} | ${tool} | ${(m / 1000).toFixed(3)} | ${(Math.min(...times) / 1000).toFixed(3)}-${(Math.max(...times) / 1000).toFixed(3)} | ${(m / anchor).toFixed(2)} |`);
  }
}
for (const [what, times] of Object.entries(startup)) log(`start-up: ${what} median ${(median(times) / 1000).toFixed(3)} s`);
