import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SpillFile } from '../../src/common/spill-file.js';
import { tempDir } from '../helpers/tree.js';

describe('SpillFile', () => {
  it('reads back every appended byte by position, from memory, from disk, and across the two', () => {
    const folder = tempDir();
    const spill = new SpillFile(folder, 100);
    const pieces = Array.from({ length: 60 }, (_, i) => Buffer.alloc(1 + ((i * 37) % 250), i));
    const at = pieces.map((piece) => spill.append(piece));
    const all = Buffer.concat(pieces);
    expect(spill.size).toBe(all.length);
    for (const [i, piece] of pieces.entries()) {
      const back = Buffer.alloc(piece.length);
      spill.read(back, at[i] as number);
      expect(back.equals(piece), `piece ${i}`).toBe(true);
    }
    // One read over everything: the file's part, then the buffer's.
    const whole = Buffer.alloc(all.length);
    spill.read(whole, 0);
    expect(whole.equals(all)).toBe(true);
    expect(() => spill.read(Buffer.alloc(2), all.length - 1)).toThrow(/past the end/);
    // The temporary was unlinked when it was made.
    expect(fs.readdirSync(folder)).toEqual([]);
    spill.close();
  });

  it('stays in memory while it fits', () => {
    const spill = new SpillFile('/nonexistent-folder', 1024);
    spill.appendRaw('\xe9t\xe9');
    const back = Buffer.alloc(3);
    spill.read(back, 0);
    expect(back).toEqual(Buffer.from([0xe9, 0x74, 0xe9]));
    spill.close();
  });
});
