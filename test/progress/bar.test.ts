import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createProgressBar, formatBytes } from '../../src/progress/bar.js';

describe('formatBytes', () => {
  it.each([
    { n: 0, text: '0 B' },
    { n: 1023, text: '1023 B' },
    { n: 1024, text: '1.00 KiB' },
    { n: 1536, text: '1.50 KiB' },
    { n: 10 * 1024 * 1024, text: '10.0 MiB' },
    { n: 2 ** 30 * 2.5, text: '2.50 GiB' },
    { n: 2 ** 50, text: '1024.0 TiB' },
  ])('shows $n as $text', ({ n, text }) => {
    expect(formatBytes(n)).toBe(text);
  });
});

describe('createProgressBar', () => {
  function fakeStream(isTTY: boolean): { stream: NodeJS.WriteStream; written: () => string } {
    const stream = Object.assign(new PassThrough(), { isTTY, columns: 120 }) as unknown as NodeJS.WriteStream;
    let text = '';
    (stream as unknown as PassThrough).on('data', (c: Buffer) => (text += c.toString()));
    return { stream, written: () => text };
  }

  it.each([
    { title: 'when disabled (--quiet or --json)', enabled: false, isTTY: true },
    { title: 'when the stream is not a terminal', enabled: true, isTTY: false },
  ])('writes nothing $title', async ({ enabled, isTTY }) => {
    const { stream, written } = fakeStream(isTTY);
    const bar = await createProgressBar({ totalBytes: 100, totalFiles: 1, enabled, stream });
    bar.advance(50, 1);
    bar.setDetail('x');
    bar.stop();
    await new Promise((resolve) => setImmediate(resolve));
    expect(written()).toBe('');
  });

  it('draws on a terminal and shows the files done', async () => {
    const { stream, written } = fakeStream(true);
    const bar = await createProgressBar({ totalBytes: 100, totalFiles: 2, enabled: true, stream });
    bar.advance(100, 2);
    bar.stop();
    await new Promise((resolve) => setImmediate(resolve));
    expect(written()).toContain('2/2 files');
  });
});
