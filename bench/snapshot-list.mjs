#!/usr/bin/env node
/**
 * `backup snapshots` over many snapshots of a large tree: wall time and peak RSS of listing them with the
 * bytes unique to each. The dest is synthetic (stats and inode tables only, no trees): each snapshot
 * holds `--files` files, a tenth of them new since the one before.
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
  const fd = fs.openSync(file, 'wx');
  const writer = new InodeTableWriter(fd);
  for (let i = 0; i < FILES; i++) writer.add(inoOf(i), 100);
  writer.finish();
  fs.closeSync(fd);
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
    writeTable(path.join(manifests, `${name}.inodes`), (i) => 1000 + i + s * Math.floor(FILES / 10));
  }
}

const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
const dest = fs.mkdtempSync(path.join(base, 'backupd-snapshot-list-'));
try {
  makeDest(dest);
  console.log(`${SNAPSHOTS} snapshots of ${FILES} files (format ${values.format} tables), ${new Date().toISOString()}, load ${os.loadavg()[0].toFixed(2)}`);
  for (const cli of CLIS) {
    const run = spawnSync('/usr/bin/time', ['-f', '%e %M', process.execPath, cli, 'snapshots', dest, '--json'], { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (run.status !== 0) throw new Error(`${cli}: exit ${run.status}: ${run.stderr}`);
    const [wall, rssKiB] = run.stderr.trim().split('\n').at(-1).split(' ').map(Number);
    const unique = JSON.parse(run.stdout).reduce((sum, s) => sum + s.uniqueBytes, 0);
    console.log(`${cli}: ${wall.toFixed(2)} s, peak RSS ${Math.round(rssKiB / 1024)} MiB, unique bytes in all ${unique}`);
  }
} finally {
  fs.rmSync(dest, { recursive: true, force: true });
}
