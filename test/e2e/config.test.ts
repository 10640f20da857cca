import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { backupJson } from '../helpers/backup.js';
import { runCli } from '../helpers/cli.js';
import { snapshot, tempDir, writeTree } from '../helpers/tree.js';

function writeConfig(dir: string, config: unknown): string {
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify(config));
  return file;
}

describe('backup with a config file', () => {
  it('runs every job of --config when no source is given, with each job\'s excludes and delete setting', async () => {
    const root = tempDir();
    writeTree(root, { 'docs/a.txt': 'a', 'docs/skip.tmp': 't', 'photos/p.jpg': 'p', 'photos/raw/r.cr2': 'r' });
    writeTree(root, { 'photos-copy/stale.jpg': 'stale', 'docs-copy/stale.txt': 'stale' });
    const config = writeConfig(root, {
      exclude: ['*.tmp'],
      jobs: [
        { source: path.join(root, 'docs'), dest: path.join(root, 'docs-copy') },
        { source: path.join(root, 'photos'), dest: path.join(root, 'photos-copy'), exclude: ['raw/'], delete: true },
      ],
    });
    const result = await runCli(['--config', config]);
    expect(result.code, result.stderr).toBe(0);
    expect(fs.readdirSync(path.join(root, 'docs-copy')).sort()).toEqual(['a.txt', 'stale.txt']);
    expect(fs.readdirSync(path.join(root, 'photos-copy')).sort()).toEqual(['p.jpg']);
  });

  it('prints exactly one JSON object for several jobs: their totals and a per-job list', async () => {
    const root = tempDir();
    writeTree(root, { 'one/a': 'a', 'two/b': 'bb' });
    const config = writeConfig(root, { jobs: [{ source: path.join(root, 'one') }, { source: path.join(root, 'two') }] });
    const result = await runCli(['--config', config, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout) as { bytesCopied: number; filesCopied: number; jobs: { source: string; bytesCopied: number }[] };
    expect(summary).toMatchObject({ bytesCopied: 3, filesCopied: 2 });
    expect(summary.jobs.map((j) => [path.basename(j.source), j.bytesCopied])).toEqual([['one', 1], ['two', 2]]);
    expect(fs.existsSync(path.join(root, 'one-backup/a'))).toBe(true);
    expect(fs.existsSync(path.join(root, 'two-backup/b'))).toBe(true);
  });

  it('takes dest from the config job whose source is the given source, however it is spelled', async () => {
    const root = tempDir();
    writeTree(root, { 'docs/a.txt': 'a' });
    fs.symlinkSync('docs', path.join(root, 'docs-link'));
    const config = writeConfig(root, { jobs: [{ source: path.join(root, 'docs'), dest: path.join(root, 'configured') }] });
    await backupJson([path.join(root, 'docs-link/'), '--config', config]);
    expect(snapshot(path.join(root, 'configured'))).toEqual(snapshot(path.join(root, 'docs')));
    expect(fs.existsSync(path.join(root, 'docs-link-backup'))).toBe(false);
  });

  it('expands ~ in job paths to the home folder', async () => {
    const home = tempDir();
    writeTree(home, { 'docs/a.txt': 'a' });
    const config = writeConfig(home, { jobs: [{ source: '~/docs', dest: '~/backups/docs' }] });
    const result = await runCli(['--config', config], { env: { HOME: home } });
    expect(result.code, result.stderr).toBe(0);
    expect(fs.readFileSync(path.join(home, 'backups/docs/a.txt'), 'utf8')).toBe('a');
  });

  it('reads the config from $XDG_CONFIG_HOME/backupd/config.json without --config', async () => {
    const root = tempDir();
    writeTree(root, { 'src/keep.txt': 'k', 'src/drop.log': 'd', 'xdg/backupd/config.json': JSON.stringify({ exclude: ['*.log'] }) });
    const result = await runCli([path.join(root, 'src')], { env: { XDG_CONFIG_HOME: path.join(root, 'xdg') } });
    expect(result.code, result.stderr).toBe(0);
    expect(fs.readdirSync(path.join(root, 'src-backup'))).toEqual(['keep.txt']);
  });

  it('refuses a config job whose dest is inside its source, before writing anything', async () => {
    const root = tempDir();
    writeTree(root, { 'ok/a': 'a', 'docs/a': 'a' });
    const config = writeConfig(root, {
      jobs: [
        { source: path.join(root, 'ok') },
        { source: path.join(root, 'docs'), dest: path.join(root, 'docs/inner') },
      ],
    });
    const result = await runCli(['--config', config]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(path.join(root, 'docs/inner'));
    expect(fs.existsSync(path.join(root, 'ok-backup'))).toBe(false);
  });
});
