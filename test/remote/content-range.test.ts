import { describe, expect, it } from 'vitest';
import { parseContentRange, retryAfterMs, strongEtag, unsatisfiedSize } from '../../src/remote/content-range.js';

describe('HTTP header parsing', () => {
  it.each([
    { value: 'bytes 0-99/1000', parsed: { first: 0, last: 99, size: 1000 } },
    { value: 'bytes 5-5/*', parsed: { first: 5, last: 5, size: undefined } },
    { value: 'BYTES 1-2/3', parsed: { first: 1, last: 2, size: 3 } },
    { value: 'bytes 9-1/1000', parsed: undefined },
    { value: 'bytes 0-1000/1000', parsed: undefined },
    { value: 'items 0-1/2', parsed: undefined },
    { value: 'bytes */1000', parsed: undefined },
    { value: undefined, parsed: undefined },
  ])('Content-Range $value', ({ value, parsed }) => {
    expect(parseContentRange(value)).toEqual(parsed);
  });

  it('reads the size of an unsatisfied range', () => {
    expect(unsatisfiedSize('bytes */0')).toBe(0);
    expect(unsatisfiedSize('bytes 0-1/2')).toBeUndefined();
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('Tue, 01 Dec 2026 10:00:00 GMT');
    expect(retryAfterMs('3', now)).toBe(3000);
    expect(retryAfterMs('Tue, 01 Dec 2026 10:00:05 GMT', now)).toBe(5000);
    expect(retryAfterMs('Tue, 01 Dec 2026 09:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(undefined, now)).toBeUndefined();
  });

  it('takes strong ETags only', () => {
    expect(strongEtag('"abc"')).toBe('"abc"');
    expect(strongEtag('W/"abc"')).toBeUndefined();
    expect(strongEtag(undefined)).toBeUndefined();
  });
});
