import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readInodes } from './inode-pairs.js';
import { forEachManifestEntry, manifestEntries, readManifest, readStats, removeManifest, statsOf, writeManifest, type ManifestEntry } from '../../src/snapshots/manifest.js';
import { ReusableIndex } from '../../src/snapshots/reusable.js';
import { tempDir } from '../helpers/tree.js';
import { dir, file, link, tree } from '../plan/trees.js';

const T = 1_700_000_000_000;

describe('manifests', () => {
  const current = tree('/dest/current', [
    dir('d'),
    file('d/a', { ino: 501, size: 10, mtimeMs: T + 0.4 }),
    file('d/\xe9\xff', { ino: 502, size: 20 }),
    file('d/hard', { ino: 501, size: 10, mtimeMs: T + 0.4 }),
    file('stale', { ino: 503, size: 5, mtimeMs: T - 60_000 }),
    link('l', 'd/a'),
  ]);
  const source = tree('/src', [dir('d'), file('d/a', { ino: 9001, dev: 7, size: 10 }), file('d/\xe9\xff', { ino: 9002, dev: 7, size: 20 }), file('stale', { ino: 9003, dev: 7, size: 5 })]);

  it('records the source identity only of files current with their source', () => {
    const entries = manifestEntries(current, source);
    const byRel = new Map(entries.map((e) => [e.rel, e]));
    expect(byRel.get('d/a')).toMatchObject({ kind: 'file', ino: 501, srcDev: 7, srcIno: 9001 });
    // The source file changed since (another mtime): linking by it would bring back an old version.
    expect(byRel.get('stale')).toMatchObject({ srcDev: 0, srcIno: 0 });
    expect(byRel.get('l')).toMatchObject({ kind: 'symlink', target: 'd/a' });
    expect(byRel.has('')).toBe(false);
  });

  it('round-trips entries (raw names included), stats and the sorted inode table; removal leaves nothing', () => {
    const root = tempDir('backupd-manifest-');
    const entries = manifestEntries(current, source);
    const manifest = { ...statsOf('2026-12-02T014500Z', new Date('2026-12-02T01:45:00Z'), entries, true), entries };
    writeManifest(root, manifest);
    expect(readManifest(root, manifest.name)).toEqual(manifest);
    // Files and bytes count every path, as a reader of the tree sees it: d/a and d/hard are one inode, counted twice.
    expect(readStats(root, manifest.name)).toEqual({ name: manifest.name, time: '2026-12-02T01:45:00.000Z', files: 4, bytes: 45, failed: true });
    expect([...(readInodes(root, manifest.name) as Float64Array)]).toEqual([501, 10, 502, 20, 503, 5]);
    removeManifest(root, manifest.name);
    expect(fs.readdirSync(path.join(root, '.backupd/manifests'))).toEqual([]);
    expect(readManifest(root, manifest.name)).toBeUndefined();
  });

  it('links the entries and inode table of an unchanged snapshot to the previous one, and writes changed ones anew', () => {
    const root = tempDir('backupd-manifest-');
    const entries = manifestEntries(current, source);
    const first = { ...statsOf('2026-12-02T014500Z', new Date('2026-12-02T01:45:00Z'), entries, false), entries };
    const same = { ...statsOf('2026-12-02T024500Z', new Date('2026-12-02T02:45:00Z'), entries, false), entries };
    const changedEntries = entries.map((e) => (e.rel === 'stale' ? { ...e, size: 6 } : e));
    const changed = { ...statsOf('2026-12-02T034500Z', new Date('2026-12-02T03:45:00Z'), changedEntries, false), entries: changedEntries };
    writeManifest(root, first);
    writeManifest(root, same, first.name);
    writeManifest(root, changed, same.name);
    const ino = (name: string, suffix: string) => fs.statSync(path.join(root, '.backupd/manifests', `${name}${suffix}`)).ino;
    for (const suffix of ['.json.gz', '.inodes']) {
      expect(ino(same.name, suffix), suffix).toBe(ino(first.name, suffix));
      expect(ino(changed.name, suffix), suffix).not.toBe(ino(same.name, suffix));
    }
    expect(ino(same.name, '.stats')).not.toBe(ino(first.name, '.stats'));
    removeManifest(root, first.name);
    expect(readManifest(root, same.name)).toEqual(same);
    expect(readManifest(root, changed.name)).toEqual(changed);
  });

  it('finds a moved file by source device, inode, size, mtime and mode, and nothing that differs in one of them', () => {
    const entries = manifestEntries(current, source);
    const reusable = ReusableIndex.of(entries, { keepOwner: true, tempFolder: tempDir() });
    const moved = file('elsewhere/a', { ino: 9001, dev: 7, size: 10 });
    expect(reusable.find(moved)).toBe('d/a');
    for (const change of [{ dev: 8 }, { ino: 9009 }, { size: 11 }, { mtimeMs: T + 5 }, { mode: 0o600 }, { uid: 0 }]) {
      expect(reusable.find({ ...moved, ...change }), JSON.stringify(change)).toBeUndefined();
    }
    expect(ReusableIndex.of(entries, { keepOwner: false, tempFolder: tempDir() }).find({ ...moved, uid: 0 })).toBe('d/a');
  });

  it('writes and reads a large manifest a chunk at a time: the same entries whole or streamed, raw names and targets included', async () => {
    const root = tempDir('backupd-manifest-');
    // 10,000 entries: three chunks of 4,096, the last one partial.
    const entries: ManifestEntry[] = [];
    for (let i = 0; i < 10_000; i++) {
      const base = { rel: `d${i % 7}/\xe9${i}\nname`, mtimeMs: T + i, mode: 0o644, uid: 1000, gid: 1000 };
      entries.push(i % 10 === 9 ? { ...base, kind: 'symlink', size: 0, ino: 0, srcDev: 0, srcIno: 0, target: `../\xff${i}` } : { ...base, kind: 'file', size: i, ino: 5000 + i, srcDev: 7, srcIno: 90_000 + i });
    }
    const manifest = { ...statsOf('2026-12-03T010000Z', new Date('2026-12-03T01:00:00Z'), entries, false), entries };
    writeManifest(root, manifest);
    const text = zlib.gunzipSync(fs.readFileSync(path.join(root, '.backupd/manifests', `${manifest.name}.json.gz`))).toString('utf8');
    expect(text.split('\n').filter((line) => line !== '')).toHaveLength(3);
    expect(readManifest(root, manifest.name)).toEqual(manifest);
    const streamed: ManifestEntry[] = [];
    expect(await forEachManifestEntry(root, manifest.name, (e) => streamed.push(e))).toBe(true);
    expect(streamed).toEqual(entries);
    expect(await forEachManifestEntry(root, 'no-such-snapshot', () => undefined)).toBe(false);
    const index = ReusableIndex.of(streamed, { keepOwner: true, tempFolder: tempDir() });
    expect(index.find(file('moved/x', { ino: 90_000 + 4321, dev: 7, size: 4321, mtimeMs: T + 4321, mode: 0o644, uid: 1000, gid: 1000 }))).toBe(`d${4321 % 7}/\xe94321\nname`);
  });

  it('reads the manifests of earlier versions: one chunk of every entry, without a trailing newline', async () => {
    const root = tempDir('backupd-manifest-');
    const entries = manifestEntries(current, source);
    const manifest = { ...statsOf('2026-12-02T014500Z', new Date('2026-12-02T01:45:00Z'), entries, false), entries };
    writeManifest(root, manifest);
    const file = path.join(root, '.backupd/manifests', `${manifest.name}.json.gz`);
    const line = zlib.gunzipSync(fs.readFileSync(file)).toString('utf8');
    fs.writeFileSync(file, zlib.gzipSync(line.trimEnd()));
    expect(readManifest(root, manifest.name)).toEqual(manifest);
    const streamed: ManifestEntry[] = [];
    await forEachManifestEntry(root, manifest.name, (e) => streamed.push(e));
    expect(streamed).toEqual(entries);
  });
});
