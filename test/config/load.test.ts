import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/common/errors.js';
import { keepRulesFromConfig } from '../../src/cli/keep-rules.js';
import { defaultConfigPath, expandHome, loadConfig } from '../../src/config/load.js';
import { tempDir } from '../helpers/tree.js';

/** An XDG config home holding `value` as backupd/config.json (or nothing). */
function xdgWith(value?: unknown): NodeJS.ProcessEnv {
  const home = tempDir();
  if (value !== undefined) {
    fs.mkdirSync(path.join(home, 'backupd'));
    fs.writeFileSync(path.join(home, 'backupd', 'config.json'), typeof value === 'string' ? value : JSON.stringify(value));
  }
  return { XDG_CONFIG_HOME: home };
}

function configFile(value: unknown): string {
  const file = path.join(tempDir(), 'config.json');
  fs.writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
  return file;
}

async function errorOf(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('loadConfig', () => {
  it('gives the shipped defaults when there is no user file', async () => {
    expect(await loadConfig(undefined, xdgWith())).toEqual({ threads: null, exclude: [], blockSize: '8MiB', settleMs: 300, logFormat: 'text', jobs: [] });
  });

  it('lets the file in $XDG_CONFIG_HOME override single fields', async () => {
    const config = await loadConfig(undefined, xdgWith({ threads: 3, exclude: ['*.tmp'] }));
    expect(config).toMatchObject({ threads: 3, exclude: ['*.tmp'], blockSize: '8MiB', settleMs: 300 });
  });

  it('prefers --config over the file in $XDG_CONFIG_HOME', async () => {
    const config = await loadConfig(configFile({ threads: 5 }), xdgWith({ threads: 3 }));
    expect(config.threads).toBe(5);
  });

  it('looks in ~/.config/backupd when $XDG_CONFIG_HOME is not set', () => {
    expect(defaultConfigPath({})).toBe(path.join(os.homedir(), '.config', 'backupd', 'config.json'));
    expect(defaultConfigPath({ XDG_CONFIG_HOME: '/x' })).toBe('/x/backupd/config.json');
  });

  it('fills job defaults and expands ~ in job paths', async () => {
    const config = await loadConfig(configFile({ jobs: [{ source: '~/docs', dest: '~/backups/docs' }, { source: '/abs' }] }));
    expect(config.jobs).toEqual([
      { source: path.join(os.homedir(), 'docs'), dest: path.join(os.homedir(), 'backups/docs'), exclude: [], delete: false },
      { source: '/abs', dest: undefined, exclude: [], delete: false },
    ]);
  });

  it('reads a job\'s keep rules, which map to the same rules as prune\'s options', async () => {
    const config = await loadConfig(configFile({ jobs: [{ source: '/a', keep: { last: 3, daily: 7, within: '1y6m' } }] }));
    const keep = config.jobs[0]?.keep;
    expect(keep).toEqual({ last: 3, daily: 7, within: '1y6m' });
    expect(keepRulesFromConfig(keep ?? {})).toEqual({ last: 3, daily: 7, within: { years: 1, months: 6, days: 0, hours: 0 } });
  });

  it('returns a frozen config', async () => {
    const config = await loadConfig(configFile({ jobs: [{ source: '/a' }] }));
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.jobs)).toBe(true);
    expect(Object.isFrozen(config.jobs[0])).toBe(true);
  });

  it.each([
    { title: 'threads of 0', value: { threads: 0 }, field: 'threads' },
    { title: 'threads as text', value: { threads: 'four' }, field: 'threads' },
    { title: 'a fractional settleMs', value: { settleMs: 1.5 }, field: 'settleMs' },
    { title: 'an unreadable blockSize', value: { blockSize: 'huge' }, field: 'blockSize' },
    { title: 'an unknown logFormat', value: { logFormat: 'xml' }, field: 'logFormat' },
    { title: 'exclude as a string', value: { exclude: '*.tmp' }, field: 'exclude' },
    { title: 'an empty job source', value: { jobs: [{ source: '' }] }, field: 'jobs[0].source' },
    { title: 'a snapshotEvery that is no duration', value: { jobs: [{ source: '/a', snapshotEvery: 'hourly' }] }, field: 'jobs[0].snapshotEvery' },
    { title: 'a job delete as text', value: { jobs: [{ source: '/a' }, { source: '/b', delete: 'yes' }] }, field: 'jobs[1].delete' },
    { title: 'an unknown top-level key', value: { thread: 4 }, field: 'thread' },
    { title: 'an unknown job key', value: { jobs: [{ source: '/a', excludes: [] }] }, field: 'excludes' },
    { title: 'a negative keep count', value: { jobs: [{ source: '/a', keep: { daily: -1 } }] }, field: 'jobs[0].keep.daily' },
    { title: 'a keep within that is no duration', value: { jobs: [{ source: '/a', keep: { within: '7 weeks' } }] }, field: 'jobs[0].keep.within' },
    { title: 'an unknown keep rule', value: { jobs: [{ source: '/a', keep: { lastest: 3 } }] }, field: 'lastest' },
  ])('rejects $title, naming the field and the file', async ({ value, field }) => {
    const file = configFile(value);
    const err = await errorOf(() => loadConfig(file));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain(file);
    expect(err.message).toContain(field);
  });

  it.each([
    { title: 'a file that is not JSON', content: '{ threads: 2 ', words: 'not valid JSON' },
    { title: 'a JSON array', content: '[]', words: 'must be a JSON object' },
    { title: 'JSON null', content: 'null', words: 'must be a JSON object' },
  ])('rejects $title', async ({ content, words }) => {
    const err = await errorOf(() => loadConfig(configFile(content)));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain(words);
  });

  it('rejects a missing --config file, naming it', async () => {
    const err = await errorOf(() => loadConfig('/nonexistent-backupd/config.json'));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain('/nonexistent-backupd/config.json');
    expect(err.message).toContain('ENOENT');
  });

  it('rejects a bad file in $XDG_CONFIG_HOME too', async () => {
    await expect(loadConfig(undefined, xdgWith({ jobs: 'none' }))).rejects.toThrow(/jobs/);
  });
});

describe('expandHome', () => {
  it.each([
    { input: '~', output: os.homedir() },
    { input: '~/docs', output: path.join(os.homedir(), 'docs') },
    { input: '~user/docs', output: '~user/docs' },
    { input: '/abs/~/x', output: '/abs/~/x' },
    { input: 'rel', output: 'rel' },
  ])('expands $input to $output', ({ input, output }) => {
    expect(expandHome(input)).toBe(output);
  });
});
