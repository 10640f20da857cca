/** Security of the copy: private files never show to others in dest, not even for a moment; owners are kept as root. */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { collect, runCli } from '../helpers/cli.js';
import { snapshot, tempDir } from '../helpers/tree.js';
import { patterned, until } from './support.js';

/**
 * A separate process that lists and lstats dest as fast as it can while the backup runs, and records every
 * file with group or other permission bits, and every folder open to others while a temporary is being
 * written in it. Prints {scans, violations} on SIGTERM.
 */
const OBSERVER = `
const fs = require('node:fs');
const root = process.argv[1];
const violations = [];
let scans = 0;
function scan(dir) {
  let names;
  try { names = fs.readdirSync(dir); } catch { return; }
  const writing = names.some((n) => n.endsWith('.backupd-tmp'));
  try {
    const mode = fs.lstatSync(dir).mode & 0o777;
    if (writing && (mode & 0o077) !== 0) violations.push({ path: dir, mode: mode.toString(8), what: 'folder open while being written' });
  } catch { return; }
  for (const name of names) {
    const full = dir + '/' + name;
    let stat;
    try { stat = fs.lstatSync(full); } catch { continue; }
    if (stat.isDirectory()) scan(full);
    else if (stat.isFile() && (stat.mode & 0o077) !== 0) violations.push({ path: full, mode: (stat.mode & 0o777).toString(8), what: 'file' });
  }
}
process.on('SIGTERM', () => { process.stdout.write(JSON.stringify({ scans, violations })); process.exit(0); });
process.stdout.write('ready\\n');
(function loop() { scan(root); scans++; setImmediate(loop); })();
`;

describe('security of the copy', () => {
  it('never lets others see a 0600 file in dest, and keeps new folders private until their contents are written', async () => {
    const root = tempDir('backupd-private-');
    const source = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    for (let d = 0; d < 30; d++) {
      const folder = path.join(source, `f${d}`, 'inner');
      fs.mkdirSync(folder, { recursive: true, mode: 0o755 });
      for (let f = 0; f < 60; f++) fs.writeFileSync(path.join(folder, `secret${f}`), patterned(16_000 + f * 100, f), { mode: 0o600 });
    }
    fs.writeFileSync(path.join(source, 'big-secret'), patterned(48 << 20, 1), { mode: 0o600 });
    fs.mkdirSync(dest, { mode: 0o700 });

    const observer = spawn(process.execPath, ['-e', OBSERVER, dest], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    observer.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    const observed = collect(observer);
    await until(() => out.startsWith('ready'), 'the observer');

    const result = await runCli([source, dest, '--quiet']);
    expect(result.code).toBe(0);
    observer.kill('SIGTERM');
    await observed;
    const { scans, violations } = JSON.parse(out.slice('ready\n'.length)) as { scans: number; violations: unknown[] };
    expect(violations).toEqual([]);
    expect(scans).toBeGreaterThan(3); // it did watch the run
    expect(snapshot(dest)).toEqual(snapshot(source));
  });

  it('keeps owners and groups of files, folders and symlinks when running as root', async () => {
    const root = tempDir('backupd-owner-');
    const source = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    fs.mkdirSync(path.join(source, 'theirs'), { recursive: true });
    fs.writeFileSync(path.join(source, 'theirs/file.txt'), 'owned by nobody');
    fs.writeFileSync(path.join(source, 'mixed.txt'), 'uid 65534, gid 0');
    fs.symlinkSync('file.txt', path.join(source, 'theirs/link'));
    fs.writeFileSync(path.join(source, 'setgid.txt'), 'mode survives the chown');
    execFileSync('chown', ['-hR', '65534:65534', path.join(source, 'theirs')]);
    execFileSync('chown', ['65534:0', path.join(source, 'mixed.txt')]);
    execFileSync('chown', ['65534:65534', path.join(source, 'setgid.txt')]);
    fs.chmodSync(path.join(source, 'setgid.txt'), 0o2640);

    expect((await runCli([source, dest])).code).toBe(0);
    const owner = (rel: string) => {
      const stat = fs.lstatSync(path.join(dest, rel));
      return `${stat.uid}:${stat.gid}`;
    };
    expect(owner('theirs')).toBe('65534:65534');
    expect(owner('theirs/file.txt')).toBe('65534:65534');
    expect(owner('theirs/link')).toBe('65534:65534');
    expect(owner('mixed.txt')).toBe('65534:0');
    expect(owner('setgid.txt')).toBe('65534:65534');
    expect(fs.statSync(path.join(dest, 'setgid.txt')).mode & 0o7777).toBe(0o2640);
    expect(snapshot(dest)).toEqual(snapshot(source));
  });
});
