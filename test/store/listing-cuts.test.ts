/**
 * Where a store's listing is cut into ranges (store/s3/listing.ts): only after the first page's last
 * key, ascending, about the asked spacing apart, and only at keys whose order is the same in UTF-16 and
 * in UTF-8 (every character below U+D800).
 */
import { describe, expect, it } from 'vitest';
import { cutPoints } from '../../src/store/s3/listing.js';

const keys = (n: number): string[] => Array.from({ length: n }, (_, i) => `d${String(i % 50).padStart(2, '0')}/f${String(i).padStart(6, '0')}`);

describe('listing cut points', () => {
  it('are ascending full keys after the first page, about the asked number of known keys apart', () => {
    const known = keys(100_000).reverse();
    const cuts = cutPoints('home/', known, 'home/d10/', 8000);
    expect(cuts.length).toBeGreaterThan(5);
    expect([...cuts].sort()).toEqual(cuts);
    expect(new Set(cuts).size).toBe(cuts.length);
    for (const cut of cuts) {
      expect(cut.startsWith('home/')).toBe(true);
      expect(cut > 'home/d10/').toBe(true);
    }
    // 80,000 known keys after d10/ (d10..d49), one cut about every 8,000.
    expect(cuts.length).toBeGreaterThanOrEqual(8);
    expect(cuts.length).toBeLessThanOrEqual(11);
  });

  it('never cut at a key whose UTF-16 order differs from its UTF-8 order', () => {
    // U+E000 sorts after U+1F600 in UTF-16 (D83D < E000) and before it in UTF-8 (EE < F0).
    const known = Array.from({ length: 20_000 }, (_, i) => (i % 2 === 0 ? `a/\u{1F600}${i}` : `a/\uE000${i}`));
    expect(cutPoints('', known, 'a/', 100)).toEqual([]);
  });

  it('are none when too few keys are known to be worth a second range', () => {
    expect(cutPoints('p/', keys(500), '', 8000)).toEqual([]);
    expect(cutPoints('p/', [], '', 8000)).toEqual([]);
  });
});
