import { describe, expect, it } from 'vitest';
import { parseSize } from '../../src/common/size.js';

describe('parseSize', () => {
  it.each([
    { text: '4096', bytes: 4096 },
    { text: '512k', bytes: 512 * 1024 },
    { text: '512K', bytes: 512 * 1024 },
    { text: '8MiB', bytes: 8 * 2 ** 20 },
    { text: '8mb', bytes: 8 * 2 ** 20 },
    { text: '1G', bytes: 2 ** 30 },
    { text: '1.5m', bytes: 1.5 * 2 ** 20 },
    { text: ' 2 GiB ', bytes: 2 * 2 ** 30 },
    { text: '100b', bytes: 100 },
    { text: '0', bytes: undefined },
    { text: '-1k', bytes: undefined },
    { text: 'lots', bytes: undefined },
    { text: '8XiB', bytes: undefined },
    { text: '', bytes: undefined },
    { text: '0.3', bytes: undefined },
  ])('reads "$text" as $bytes', ({ text, bytes }) => {
    expect(parseSize(text)).toBe(bytes);
  });
});
