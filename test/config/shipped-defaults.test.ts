import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../src/config/load.js';

describe('the shipped config/default.json', () => {
  // Runs without a user file skip validation for speed, so the shipped file must be valid on its own.
  it('passes the schema unchanged', async () => {
    const shipped = JSON.parse(fs.readFileSync(new URL('../../config/default.json', import.meta.url), 'utf8')) as unknown;
    const validated = await parseConfig(shipped, 'config/default.json');
    expect(validated).toEqual(shipped);
  });

  it('is what a run without a user config file gets', async () => {
    const config = await loadConfig(undefined, { XDG_CONFIG_HOME: '/nonexistent-backupd' });
    expect(config).toMatchObject({ threads: null, exclude: [], jobs: [] });
    expect(Object.isFrozen(config)).toBe(true);
  });
});
