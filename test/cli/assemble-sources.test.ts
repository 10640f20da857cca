import { describe, expect, it } from 'vitest';
import { parseHeaders } from '../../src/cli/assemble-sources.js';
import { UsageError } from '../../src/common/errors.js';

describe('--header', () => {
  it('takes Name: value pairs, names lower-cased, values trimmed', () => {
    expect(parseHeaders(['Authorization: Bearer abc', 'X-Token:xyz ', 'Cookie: a=b; c=d'])).toEqual({
      authorization: 'Bearer abc',
      'x-token': 'xyz',
      cookie: 'a=b; c=d',
    });
  });

  it.each([
    { header: 'Authorization Bearer secret-value', message: "--header must be 'Name: value'" },
    { header: 'Bad Name: secret-value', message: "--header must be 'Name: value'" },
    { header: ': secret-value', message: "--header must be 'Name: value'" },
    { header: 'Range: bytes=0-', message: '--header Range cannot be set' },
    { header: 'Accept-Encoding: gzip', message: '--header Accept-Encoding cannot be set' },
  ])('refuses $header without quoting the value', ({ header, message }) => {
    let error: unknown;
    try {
      parseHeaders([header]);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toContain(message);
    expect((error as Error).message).not.toContain('secret-value');
  });
});
