import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findSnapshot, listSnapshots, partialName, removingName } from '../../src/snapshots/layout.js';

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
