import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listing } from '../helpers/backup.js';
import { runCli } from '../helpers/cli.js';
import { tempDir, writeTree } from '../helpers/tree.js';

/**
 * A root holding src/ (with a file and a subfolder), a plain file, and symlinks to src and to the root,
 * so that every overlap can be spelled through a link or `..`.
 */
function layout(): string {
  const root = tempDir();
  writeTree(root, {
    'src/f.txt': 'x',
    'src/sub/g.txt': 'y',
    'other/keep': 'k',
    'a-file': 'not a folder',
    'link-to-src': { symlink: 'src' },
    'link-to-root': { symlink: '.' },
  });
  return root;
}

interface BadCase {
  readonly title: string;
  /** Arguments; ROOT is replaced by the temp root. */
  readonly args: readonly string[];
  /** Text the one-line message must contain (ROOT replaced). */
  readonly names: string;
}

const cases: BadCase[] = [
  { title: 'a missing source', args: ['ROOT/nope'], names: 'ROOT/nope' },
  { title: 'a source that is a file', args: ['ROOT/a-file'], names: 'ROOT/a-file' },
  { title: 'dest equal to the source', args: ['ROOT/src', 'ROOT/src'], names: 'ROOT/src' },
  { title: 'dest equal to the source through ..', args: ['ROOT/src', 'ROOT/other/../src'], names: 'ROOT/src' },
  { title: 'dest equal to the source through a symlink', args: ['ROOT/src', 'ROOT/link-to-src'], names: 'ROOT/link-to-src' },
  { title: 'dest equal to the source given with --to', args: ['ROOT/src', '--to', 'ROOT/src/'], names: 'ROOT/src' },
  { title: 'dest inside the source (new folder)', args: ['ROOT/src', 'ROOT/src/backup'], names: 'ROOT/src/backup' },
  { title: 'dest inside the source (existing folder)', args: ['ROOT/src', 'ROOT/src/sub'], names: 'ROOT/src/sub' },
  { title: 'dest inside the source through a symlink', args: ['ROOT/src', 'ROOT/link-to-src/new'], names: 'ROOT/link-to-src/new' },
  { title: 'dest inside the source through ..', args: ['ROOT/src', 'ROOT/other/../src/new'], names: 'ROOT/src/new' },
  { title: 'dest containing the source', args: ['ROOT/src', 'ROOT'], names: 'ROOT' },
  { title: 'dest containing the source through ..', args: ['ROOT/src', 'ROOT/src/..'], names: 'ROOT' },
  { title: 'dest containing the source through a symlink', args: ['ROOT/src', 'ROOT/link-to-root'], names: 'ROOT/link-to-root' },
  { title: 'a source given through a symlink whose dest is the real source', args: ['ROOT/link-to-src', 'ROOT/src'], names: 'ROOT/src' },
  { title: 'dest that is an existing file', args: ['ROOT/src', 'ROOT/a-file'], names: 'ROOT/a-file' },
  { title: 'dest given twice', args: ['ROOT/src', 'ROOT/d1', '--to', 'ROOT/d2'], names: '--to' },
  { title: 'an unknown option', args: ['ROOT/src', '--frobnicate'], names: '--frobnicate' },
  { title: 'an unknown short option', args: ['ROOT/src', '-z'], names: '-z' },
  { title: '--to without its value', args: ['ROOT/src', '--to'], names: '--to' },
  { title: '--jobs without its value', args: ['ROOT/src', '--jobs'], names: '--jobs' },
  { title: '--exclude without its value', args: ['ROOT/src', '--exclude'], names: '--exclude' },
  { title: '--config without its value', args: ['ROOT/src', '--config'], names: '--config' },
  { title: '--jobs lots', args: ['ROOT/src', '--jobs', 'lots'], names: '--jobs' },
  { title: '--jobs 0', args: ['ROOT/src', '-j', '0'], names: '--jobs' },
  { title: '--jobs 1.5', args: ['ROOT/src', '--jobs=1.5'], names: '--jobs' },
  { title: 'a missing --config file', args: ['ROOT/src', '--config', 'ROOT/none.json'], names: 'ROOT/none.json' },
  { title: 'too many arguments', args: ['ROOT/src', 'ROOT/d', 'ROOT/e'], names: 'argument' },
  { title: 'assemble --background without a name', args: ['assemble', '--metalink', 'ROOT/a-file', '--background'], names: '--background' },
];

describe('backup refuses bad input with exit 2, one named line and nothing written', () => {
  it.each(cases)('refuses $title', async ({ args, names }) => {
    const root = layout();
    const before = listing(root);
    const result = await runCli(args.map((a) => a.replaceAll('ROOT', root)));
    expect(result.code, result.stderr).toBe(2);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^backup: /);
    expect(lines[0]).toContain(names.replaceAll('ROOT', root));
    expect(result.stdout).toBe('');
    expect(listing(root)).toEqual(before);
  });

  it.each([
    { title: 'threads below 1', config: { threads: 0 }, field: 'threads' },
    { title: 'a job without a source', config: { jobs: [{ dest: '/x' }] }, field: 'jobs[0].source' },
    { title: 'an unknown key', config: { exclude: [], excludes: ['*.tmp'] }, field: 'excludes' },
    { title: 'a bad exclude list', config: { exclude: [1] }, field: 'exclude[0]' },
  ])('refuses a config file with $title, naming the field', async ({ config, field }) => {
    const root = layout();
    const file = path.join(root, 'config.json');
    fs.writeFileSync(file, JSON.stringify(config));
    const before = listing(root);
    const result = await runCli([path.join(root, 'src'), '--config', file]);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/^backup: /);
    expect(result.stderr).toContain(field);
    expect(result.stderr).toContain(file);
    expect(listing(root)).toEqual(before);
  });

  it('refuses a bad file in $XDG_CONFIG_HOME as well', async () => {
    const xdg = tempDir();
    writeTree(xdg, { 'backupd/config.json': '{"threads": "many"}' });
    const root = layout();
    const result = await runCli([path.join(root, 'src')], { env: { XDG_CONFIG_HOME: xdg } });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^backup: config .*threads/);
    expect(fs.existsSync(path.join(root, 'src-backup'))).toBe(false);
  });
});

describe('backup without a source', () => {
  it('prints usage and exits 2 when the config has no jobs', async () => {
    const result = await runCli([]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^backup: /);
    expect(result.stderr).toContain('Usage: backup');
    expect(result.stdout).toBe('');
  });
});

describe('backup help and version', () => {
  it('lists every option with an explanation and examples for --help', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    for (const option of ['--to <dir>', '-j, --jobs <n>', '--exclude <pattern>', '--delete', '--checksum', '--verify', '--dry-run', '--json', '--quiet', '--config <file>', '--version', '--help']) {
      expect(result.stdout).toContain(option);
    }
    expect(result.stdout).toContain('Examples:');
  });

  it('prints the package version for --version', async () => {
    const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const result = await runCli(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(pkg.version);
  });
});
