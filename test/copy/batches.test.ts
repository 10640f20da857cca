import { describe, expect, it } from 'vitest';
import { LARGE_FILE, makeBatches } from '../../src/copy/batches.js';

const files = (sizes: readonly number[]) => sizes.map((size, id) => ({ id, size }));
const KiB = 1024;
const MiB = 1024 * KiB;

describe('makeBatches', () => {
  it('keeps every file exactly once and in order', () => {
    const input = files(Array.from({ length: 1000 }, (_, i) => (i % 97 === 0 ? LARGE_FILE + i : i * 10)));
    const batches = makeBatches(input, 4);
    expect(batches.flat().map((f) => f.id).sort((a, b) => a - b)).toEqual(input.map((f) => f.id));
    expect(batches.every((b) => b.length > 0)).toBe(true);
  });

  it.each([
    { title: 'exactly the large-file threshold', size: LARGE_FILE },
    { title: 'a 1 GiB file', size: 1024 * MiB },
  ])('sends a file of $title alone', ({ size }) => {
    const batches = makeBatches(files([1, size, 2]), 2);
    expect(batches.find((b) => b.some((f) => f.size === size))).toHaveLength(1);
  });

  it.each([
    { title: '20,000 small files on 2 threads', count: 20_000, threads: 2, maxPerBatch: 256, minBatches: 8 },
    { title: '100 small files on 4 threads', count: 100, threads: 4, maxPerBatch: 8, minBatches: 13 },
    { title: '10 small files on 8 threads', count: 10, threads: 8, maxPerBatch: 8, minBatches: 2 },
  ])('batches $title into several tasks per thread of bounded size', ({ count, threads, maxPerBatch, minBatches }) => {
    const batches = makeBatches(files(Array(count).fill(4 * KiB)), threads);
    expect(Math.max(...batches.map((b) => b.length))).toBeLessThanOrEqual(maxPerBatch);
    expect(batches.length).toBeGreaterThanOrEqual(minBatches);
  });

  it('caps the bytes of a batch of medium files at 32 MiB', () => {
    const batches = makeBatches(files(Array(40).fill(7 * MiB)), 1);
    for (const batch of batches) expect(batch.reduce((n, f) => n + f.size, 0)).toBeLessThanOrEqual(32 * MiB);
    expect(batches.length).toBe(10);
  });

  it('gives no batches for no files', () => {
    expect(makeBatches([], 4)).toEqual([]);
  });
});
