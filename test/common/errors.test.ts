import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, errorData, UsageError } from '../../src/common/errors.js';

describe('errorData', () => {
  it('keeps the code and drops the repeated code and path from a Node error', () => {
    let caught: unknown;
    try {
      fs.readFileSync('/nonexistent-backupd/x');
    } catch (err) {
      caught = err;
    }
    expect(errorData(caught)).toEqual({ code: 'ENOENT', message: 'no such file or directory' });
  });

  it.each([
    { title: 'an error without a code', err: new Error('boom'), data: { code: 'EUNKNOWN', message: 'boom' } },
    { title: 'a thrown string', err: 'plain', data: { code: 'EUNKNOWN', message: 'plain' } },
    { title: 'a usage error', err: new UsageError('bad'), data: { code: 'EUSAGE', message: 'bad' } },
    { title: 'a config error', err: new ConfigError('field x'), data: { code: 'ECONFIG', message: 'field x' } },
  ])('turns $title into plain data', ({ err, data }) => {
    expect(errorData(err)).toEqual(data);
  });

  it('gives data that survives structured clone', () => {
    const data = errorData(Object.assign(new Error('x'), { code: 'EACCES' }));
    expect(structuredClone(data)).toEqual(data);
  });
});
