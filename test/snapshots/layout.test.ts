import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  baseSnapshotName,
  findSnapshot,
  listSnapshots,
  parseSnapshotName,
  partialName,
  removingName,
  snapshotName,
} from '../../src/snapshots/layout.js';

describe('snapshot names', () => {
  it('is the UTC time to the second, with -1, -2 for later snapshots within the same second', () => {
    const t = new Date('2026-12-02T01:45:00.900Z');
    expect(baseSnapshotName(t)).toBe('2026-12-02T014500Z');
    expect(snapshotName(t, new Set())).toBe('2026-12-02T014500Z');
    expect(snapshotName(t, new Set(['2026-12-02T014500Z']))).toBe('2026-12-02T014500Z-1');
    expect(snapshotName(t, new Set(['2026-12-02T014500Z', '2026-12-02T014500Z-1']))).toBe('2026-12-02T014500Z-2');
  });

  it('parses back to the time, and rejects what is not a snapshot name', () => {
    expect(parseSnapshotName('2026-12-02T014500Z-3')?.toISOString()).toBe('2026-12-02T01:45:00.000Z');
    for (const name of ['latest', '.2026-12-02T014500Z.partial', '2026-13-02T014500Z', '2026-12-02T014500', 'x']) {
      expect(parseSnapshotName(name)).toBeUndefined();
    }
  });
});

describe('listing', () => {
  let root = '';
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('lists complete snapshots oldest first, ignoring partial, removing, latest and strays', () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'layout-'));
    const snaps = path.join(root, 'snapshots');
    for (const name of [
      '2026-12-02T014500Z-1',
      '2026-12-01T000000Z',
      '2026-12-02T014500Z',
      partialName('2026-12-03T000000Z'),
      removingName('2026-11-01T000000Z'),
      'notes',
    ]) {
      fs.mkdirSync(path.join(snaps, name), { recursive: true });
    }
    fs.symlinkSync('2026-12-02T014500Z-1', path.join(snaps, 'latest'));
    expect(listSnapshots(root).map((s) => s.name)).toEqual(['2026-12-01T000000Z', '2026-12-02T014500Z', '2026-12-02T014500Z-1']);
    expect(findSnapshot(root)?.name).toBe('2026-12-02T014500Z-1');
    expect(findSnapshot(root, '2026-12-01T000000Z')?.path).toBe(path.join(snaps, '2026-12-01T000000Z'));
    expect(findSnapshot(root, '2026-12-05T000000Z')).toBeUndefined();
  });

  it('is empty when the dest has no snapshots folder', () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'layout-'));
    expect(listSnapshots(root)).toEqual([]);
    expect(findSnapshot(root)).toBeUndefined();
  });
});
