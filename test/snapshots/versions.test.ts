import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/common/duration.js';
import { parseVersionName, removeOldVersions, versionRel } from '../../src/snapshots/versions.js';
import { tempDir, writeTree } from '../helpers/tree.js';

describe('versions/ names', () => {
  it('appends the UTC time to the millisecond, and parses it back', () => {
    const time = new Date('2026-12-02T01:45:00.123Z');
    expect(versionRel('docs/a~b.txt', time)).toBe('docs/a~b.txt~2026-12-02T014500.123Z');
    expect(parseVersionName('a~b.txt~2026-12-02T014500.123Z')).toEqual({ base: 'a~b.txt', time });
    for (const name of ['a.txt', 'a.txt~2026-12-02T014500Z', 'a.txt~2026-13-02T014500.123Z']) expect(parseVersionName(name), name).toBeUndefined();
  });

  it('removes versions older than the limit and the folders they leave empty, nothing else', () => {
    const root = tempDir('backupd-versions-');
    const now = new Date('2026-12-02T00:00:00Z');
    writeTree(root, {
      'old.txt~2026-10-01T000000.000Z': 'old',
      'deep/er/gone.txt~2026-10-01T000000.000Z': 'old',
      'keep/new.txt~2026-11-30T000000.000Z': 'recent',
      'keep/not-a-version.txt': 'stranger',
    });
    expect(removeOldVersions(root, 30 * 86_400_000, now)).toBe(2);
    expect(fs.readdirSync(root).sort()).toEqual(['keep']);
    expect(fs.readdirSync(path.join(root, 'keep')).sort()).toEqual(['new.txt~2026-11-30T000000.000Z', 'not-a-version.txt']);
  });
});

describe('parseDuration', () => {
  it.each([
    ['30s', 30_000],
    ['15m', 900_000],
    ['1h', 3_600_000],
    ['7d', 604_800_000],
    ['2w', 1_209_600_000],
    ['1h30m', 5_400_000],
    ['250ms', 250],
  ])('%s is %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', '1', 'h', '1x', '-1h', '0s', '1.5h', '1 h'])('rejects %j', (text) => expect(parseDuration(text)).toBeUndefined());
});
