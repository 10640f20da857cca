#!/usr/bin/env node
/**
 * `backup snapshots` over many snapshots of a large tree: wall time and peak RSS of listing them with the
 * bytes unique to each, and of `backup diff` of the two newest. The dest is synthetic (stats, inode tables
 * and the two newest manifests, no trees): each snapshot holds `--files` files, a tenth of them new since
 * the one before.
 *
 *   node bench/snapshot-list.mjs [--snapshots 20] [--files 2000000] [--cli <main.js>]... [--format 1|2]
 *
 * --format 1 writes the tables as the first snapshots did (one gzip stream), which every build reads;
 * the default is this build's format 2. Each --cli is timed in turn (default: this build). Run
 * `npm run build` first.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import zlib from 'node:zlib';

const { values } = parseArgs({
  options: {
    snapshots: { type: 'string', default: '20' },
    files: { type: 'string', default: '2000000' },
    format: { type: 'string', default: '2' },
    cli: { type: 'string', multiple: true },
  },
});
const SNAPSHOTS = Number(values.snapshots);
const FILES = Number(values.files);
const CLIS = values.cli ?? [fileURLToPath(new URL('../dist/cli/main.js', import.meta.url))];
const { InodeTableWriter } = await import(new URL('../dist/snapshots/inode-table.js', import.meta.url).href);
const { ManifestWriter } = await import(new URL('../dist/snapshots/manifest.js', import.meta.url).href);

function writeTable(file, inoOf) {
  if (values.format === '1') {
    const columns = new Float64Array(2 * FILES);
    let previous = 0;
    for (let i = 0; i < FILES; i++) {
      columns[i] = inoOf(i) - previous;
      previous = inoOf(i);
      columns[FILES + i] = 100;
    }
    fs.writeFileSync(file, zlib.gzipSync(columns, { level: 1 }));
    return;
  }
  const fd = fs.openSync(file, 'w');
  const writer = new InodeTableWriter(fd);
  for (let i = 0; i < FILES; i++) writer.add(inoOf(i), 100);
  writer.finish();
  fs.closeSync(fd);
}

/** A manifest of `--files` files in folders of 1,000 (its .inodes is then replaced by writeTable's). */
function writeEntries(dest, name, time, inoOf) {
  const writer = new ManifestWriter(dest, name, time);
  for (let i = 0; i < FILES; i++) {
    const ino = inoOf(i);
    writer.add({ rel: `d${ino % 1000}/file-${ino}.txt`, kind: 'file', size: 100, mtimeMs: time.getTime(), mode: 0o100644, uid: 1000, gid: 1000, ino, srcDev: 0, srcIno: 0 });
  }
  writer.finish(false);
}

function makeDest(dest) {
  const manifests = path.join(dest, '.backupd/manifests');
  for (const dir of [manifests, path.join(dest, 'snapshots'), path.join(dest, 'current')]) fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dest, '.backupd/format'), JSON.stringify({ format: 1 }));
  for (let s = 0; s < SNAPSHOTS; s++) {
    const time = new Date(Date.UTC(2026, 0, 1, s));
    const name = `${time.toISOString().slice(0, 19).replace(/:/g, '')}Z`;
    fs.mkdirSync(path.join(dest, 'snapshots', name));
    fs.writeFileSync(path.join(manifests, `${name}.stats`), JSON.stringify({ name, time: time.toISOString(), files: FILES, bytes: FILES * 100, failed: false }));
    const inoOf = (i) => 1000 + i + s * Math.floor(FILES / 10);
    if (s >= SNAPSHOTS - 2) writeEntries(dest, name, time, inoOf);
    writeTable(path.join(manifests, `${name}.inodes`), inoOf);
  }
}

const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
const dest = fs.mkdtempSync(path.join(base, 'backupd-snapshot-list-'));
try {
  makeDest(dest);
  console.log(`${SNAPSHOTS} snapshots of ${FILES} files (format ${values.format} tables), ${new Date().toISOString()}, load ${os.loadavg()[0].toFixed(2)}`);
  for (const cli of CLIS) {
    for (const command of ['snapshots', 'diff']) {
      const run = spawnSync('/usr/bin/time', ['-f', '%e %M', process.execPath, cli, command, dest, '--json'], { encoding: 'utf8', maxBuffer: 1 << 30 });
      if (run.status !== 0) throw new Error(`${cli} ${command}: exit ${run.status}: ${run.stderr}`);
      const [wall, rssKiB] = run.stderr.trim().split('\n').at(-1).split(' ').map(Number);
      const out = JSON.parse(run.stdout);
      const what = command === 'snapshots' ? `unique bytes in all ${out.reduce((sum, s) => sum + s.uniqueBytes, 0)}` : `${out.added.length} added, ${out.removed.length} removed, ${out.changed.length} changed`;
      console.log(`${cli} ${command}: ${wall.toFixed(2)} s, peak RSS ${Math.round(rssKiB / 1024)} MiB, ${what}`);
    }
  }
} finally {
  fs.rmSync(dest, { recursive: true, force: true });
}
