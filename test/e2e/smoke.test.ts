import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { snapshot, tempDir, writeTree } from '../helpers/tree.js';

describe('the README quick start', () => {
  it('backs up a folder into <source>-backup and finds nothing to do the second time', async () => {
    const root = tempDir();
    const source = path.join(root, 'docs');
    writeTree(source, { 'a.txt': 'alpha', 'sub/b.txt': 'beta', 'sub/link': { symlink: '../a.txt' } });

    const first = await runCli([source, '--json']);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ filesTotal: 2, filesCopied: 2, filesFailed: 0 });
    expect(snapshot(path.join(root, 'docs-backup'))).toEqual(snapshot(source));

    const second = await runCli([source, '--json']);
    expect(JSON.parse(second.stdout)).toMatchObject({ filesCopied: 0, filesSkipped: 2 });
  });

  it('refuses a missing source with exit 2 and writes nothing', async () => {
    const root = tempDir();
    const result = await runCli([path.join(root, 'nope')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^backup: source .*nope does not exist\n$/);
    expect(fs.readdirSync(root)).toEqual([]);
  });
});
