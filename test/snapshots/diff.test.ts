import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { EntryWarning } from '../../src/common/errors.js';
import { diffSnapshots } from '../../src/snapshots/diff.js';
import type { SnapshotRef } from '../../src/snapshots/layout.js';
import { statsOf, writeManifest, type ManifestEntry } from '../../src/snapshots/manifest.js';
import { tempDir } from '../helpers/tree.js';

const T = 1_700_000_000_000;

function fileAt(rel: string, ino: number): ManifestEntry {
  return { rel, kind: 'file', size: 1, mtimeMs: T, mode: 0o100644, uid: 0, gid: 0, ino, srcDev: 0, srcIno: 0 };
}

function snapshotWith(root: string, name: string, entries: ManifestEntry[], previous?: string): SnapshotRef {
  const time = new Date(T);
  writeManifest(root, { ...statsOf(name, time, entries, false), entries }, previous);
  const folder = path.join(root, 'snapshots', name);
  fs.mkdirSync(folder, { recursive: true });
  return { name, time, path: folder };
}

describe('diff of two snapshots', () => {
  it('finds what was added, removed and changed among 150,000 entries (sorted through spills), and nothing else', async () => {
    const root = tempDir('backupd-diff-');
    const before: ManifestEntry[] = [];
    const after: ManifestEntry[] = [];
    for (let i = 0; i < 75_000; i++) {
      const rel = `d${i % 50}/f\xe9${i}`;
      if (i % 1000 !== 1) before.push(fileAt(rel, i));
      // Every 1000th from 0 is gone, from 1 new, from 2 a new copy (another inode); the rest unchanged.
      if (i % 1000 !== 0) after.push(fileAt(rel, i % 1000 === 2 ? i + 1_000_000 : i));
    }
    const dir = (rel: string, mode: number): ManifestEntry => ({ ...fileAt(rel, 0), kind: 'dir', size: 0, mode });
    const link = (rel: string, target: string): ManifestEntry => ({ ...fileAt(rel, 0), kind: 'symlink', size: 0, mode: 0o120777, target });
    before.push(dir('d0', 0o40755), dir('d1', 0o40755), link('l1', 'a'), link('l2', 'b'), fileAt('kind', 7));
    after.push(dir('d0', 0o40700), dir('d1', 0o40755), link('l1', 'a'), link('l2', 'c'), dir('kind', 0o40755));
    const a = snapshotWith(root, '2026-01-01T000000Z', before);
    const b = snapshotWith(root, '2026-01-02T000000Z', after);
    const warnings: EntryWarning[] = [];
    const diff = await diffSnapshots(root, a, b, (w) => warnings.push(w));
    const every = (start: number) => Array.from({ length: 75 }, (_, k) => `d${(k * 1000 + start) % 50}/f\xe9${k * 1000 + start}`);
    const shown = (rels: string[]) => rels.map((rel) => Buffer.from(rel, 'latin1').toString('utf8')).sort();
    expect(diff.added).toEqual(shown(every(1)));
    expect(diff.removed).toEqual(shown(every(0)));
    expect(diff.changed).toEqual(shown([...every(2), 'd0', 'l2', 'kind']));
    expect(warnings).toEqual([]);
    expect(fs.readdirSync(path.join(root, '.backupd/manifests')).filter((n) => !n.startsWith('2026'))).toEqual([]);
  });

  it('spills into the system temporary folder when the dest is mounted read-only', async () => {
    const root = tempDir('backupd-diff-');
    const a = snapshotWith(root, '2026-01-01T000000Z', Array.from({ length: 70_000 }, (_, i) => fileAt(`f${i}`, i + 1)));
    const b = snapshotWith(root, '2026-01-02T000000Z', Array.from({ length: 70_000 }, (_, i) => fileAt(`f${i + 1}`, i + 2)));
    execFileSync('mount', ['--bind', root, root]);
    try {
      execFileSync('mount', ['-o', 'remount,ro,bind', root]);
      expect(() => fs.writeFileSync(path.join(root, 'x'), '')).toThrow(/EROFS/);
      expect(await diffSnapshots(root, a, b, () => undefined)).toEqual({ added: ['f70000'], removed: ['f0'], changed: [] });
    } finally {
      execFileSync('umount', ['-l', root]);
    }
  });

  it('answers at once for snapshots of an unchanged tree, whose manifests are one file', async () => {
    const root = tempDir('backupd-diff-');
    const entries = [fileAt('a', 1), fileAt('b', 2)];
    const a = snapshotWith(root, '2026-01-01T000000Z', entries);
    const b = snapshotWith(root, '2026-01-02T000000Z', entries, a.name);
    const manifests = path.join(root, '.backupd/manifests');
    expect(fs.statSync(path.join(manifests, `${a.name}.json.gz`)).ino).toBe(fs.statSync(path.join(manifests, `${b.name}.json.gz`)).ino);
    expect(await diffSnapshots(root, a, b, () => undefined)).toEqual({ added: [], removed: [], changed: [] });
  });

  it('a manifest damaged after its first chunk is a warning, and that snapshot is walked instead', async () => {
    const root = tempDir('backupd-diff-');
    // 5,000 entries: two chunks. The folder itself holds one file.
    const a = snapshotWith(root, '2026-01-01T000000Z', Array.from({ length: 5000 }, (_, i) => fileAt(`gone/f${i}`, i + 1)));
    fs.writeFileSync(path.join(a.path, 'kept'), 'x');
    const b = snapshotWith(root, '2026-01-02T000000Z', [fileAt('new', 99)]);
    const file = path.join(root, '.backupd/manifests', `${a.name}.json.gz`);
    const data = fs.readFileSync(file);
    const second = data.indexOf(Buffer.from([0x1f, 0x8b, 0x08]), 10);
    expect(second).toBeGreaterThan(0);
    data.fill(0x55, second + 20, second + 60);
    fs.writeFileSync(file, data);
    expect(() => zlib.gunzipSync(data)).toThrow();
    const warnings: EntryWarning[] = [];
    const diff = await diffSnapshots(root, a, b, (w) => warnings.push(w));
    expect(diff).toEqual({ added: ['new'], removed: ['kept'], changed: [] });
    expect(warnings).toEqual([expect.objectContaining({ path: file, message: expect.stringContaining(`snapshot ${a.name} is read from its folder instead`) })]);
  });
});
