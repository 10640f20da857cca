import { describe, expect, it } from 'vitest';
import { summarize, type SummaryInput } from '../../src/progress/summary.js';

const base: SummaryInput = {
  filesTotal: 0,
  filesSkipped: 0,
  filesSkippedLate: 0,
  filesCopied: 0,
  filesFailed: 0,
  filesRefused: 0,
  bytesCopied: 0,
  durationMs: 0,
  errors: [],
  warnings: [],
};

describe('summarize', () => {
  it.each([
    { title: 'a first run copies everything', input: { filesTotal: 3, filesCopied: 3, bytesCopied: 30 }, expected: { filesTotal: 3, filesCopied: 3, filesSkipped: 0, filesFailed: 0, bytesCopied: 30 } },
    { title: 'a second run skips everything', input: { filesTotal: 3, filesSkipped: 3 }, expected: { filesTotal: 3, filesCopied: 0, filesSkipped: 3, filesFailed: 0, bytesCopied: 0 } },
    { title: 'files found identical by --checksum count as skipped', input: { filesTotal: 4, filesSkipped: 1, filesSkippedLate: 2, filesCopied: 1, bytesCopied: 9 }, expected: { filesTotal: 4, filesCopied: 1, filesSkipped: 3, filesFailed: 0, bytesCopied: 9 } },
    { title: 'files refused by the plan count as failed', input: { filesTotal: 5, filesCopied: 2, filesFailed: 1, filesRefused: 2 }, expected: { filesTotal: 5, filesCopied: 2, filesSkipped: 0, filesFailed: 3, bytesCopied: 0 } },
  ])('folds counts: $title', ({ input, expected }) => {
    expect(summarize({ ...base, ...input })).toMatchObject(expected);
  });

  it('rounds the duration to whole milliseconds', () => {
    expect(summarize({ ...base, durationMs: 12.6 }).durationMs).toBe(13);
  });

  it('passes errors and warnings through', () => {
    const errors = [{ path: '/a', code: 'EACCES', message: 'permission denied' }];
    const warnings = [{ path: '/p', code: 'ESPECIAL', message: 'skipped' }];
    expect(summarize({ ...base, errors, warnings })).toMatchObject({ errors, warnings });
  });

  it('has the keys of the --json summary', () => {
    expect(Object.keys(summarize(base)).sort()).toEqual(['bytesCopied', 'durationMs', 'errors', 'filesCopied', 'filesFailed', 'filesSkipped', 'filesTotal', 'warnings']);
  });
});
