/** `backup restore s3://…`: the options and safety of a snapshot restore, and the config job's store settings. */
import fs from 'node:fs';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256File, snapshot, tempDir, writeTree } from '../helpers/tree.js';
import { client, closeClient, freshBucket, rgw, runS3 } from './s3-helpers.js';

/** Nothing listens here: a run that reaches the store through it fails with ES3UNREACHABLE. */
const NOWHERE = 'http://127.0.0.1:9';

async function backedUp(): Promise<{ src: string; url: string }> {
  const src = tempDir();
  writeTree(src, {
    'docs/a.txt': { content: 'alpha', mtime: new Date('2020-01-02T03:04:05.678Z') },
    'docs/b.txt': { content: 'bravo', mtime: new Date('2021-01-02T03:04:05.678Z') },
    'notes/todo.txt': 'todo',
  });
  const url = `s3://${await freshBucket()}/home`;
  const result = await runS3([src, url, '--quiet']);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return { src, url };
}

function asideFolders(to: string): string[] {
  return fs.readdirSync(to).filter((name) => name.startsWith('.backupd-restore-'));
}

describe.skipIf(rgw === null)('restore from s3:// (real Ceph RGW)', () => {
  afterAll(closeClient);

  it('refuses a non-empty --to without --overwrite: exit 2, nothing written', async () => {
    const { url } = await backedUp();
    const to = tempDir();
    fs.writeFileSync(path.join(to, 'mine.txt'), 'mine');
    const result = await runS3(['restore', url, '--to', to]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/is not empty; add --overwrite/);
    expect(fs.readdirSync(to)).toEqual(['mine.txt']);
  });

  it('--overwrite keeps every replaced file aside, leaves the rest of --to alone, and a rerun keeps nothing new', async () => {
    const { src, url } = await backedUp();
    const to = tempDir();
    writeTree(to, {
      'docs/a.txt': 'changed by the user',
      'docs/b.txt': { content: 'bravo', mtime: new Date('2021-01-02T03:04:05.678Z') },
      'mine.txt': 'mine',
    });
    const dry = await runS3(['restore', url, '--to', to, '--overwrite', '--dry-run', '--json']);
    expect(dry.code).toBe(0);
    const planned = JSON.parse(dry.stdout) as { dryRun: boolean; files: number; keptAside: { path: string }[] };
    expect(planned).toMatchObject({ dryRun: true, files: 2, keptAside: [{ path: path.join(to, 'docs/a.txt') }] });
    expect(asideFolders(to)).toEqual([]);

    const result = await runS3(['restore', url, '--to', to, '--overwrite', '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as { source: string; filesCopied: number; keptAside: { path: string; keptAs: string }[]; keptAsideIn: string };
    expect(report).toMatchObject({ source: `${url}/`, filesCopied: 2 });
    expect(report.keptAside).toEqual([{ path: path.join(to, 'docs/a.txt'), keptAs: path.join(report.keptAsideIn, 'docs/a.txt') }]);
    expect(fs.readFileSync(path.join(report.keptAsideIn, 'docs/a.txt'), 'utf8')).toBe('changed by the user');
    expect(fs.readFileSync(path.join(to, 'mine.txt'), 'utf8')).toBe('mine');
    for (const rel of ['docs/a.txt', 'docs/b.txt', 'notes/todo.txt']) expect(sha256File(path.join(to, rel))).toBe(sha256File(path.join(src, rel)));

    const again = await runS3(['restore', url, '--to', to, '--overwrite', '--json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ filesCopied: 0, keptAside: [] });
    expect(asideFolders(to).length).toBe(1);
  });

  it('restores only the paths given; a path the store lacks is exit 2', async () => {
    const { src, url } = await backedUp();
    const to = path.join(tempDir(), 'r');
    const result = await runS3(['restore', url, 'docs/a.txt', 'notes', '--to', to, '--quiet']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const got = snapshot(to);
    expect(Object.keys(got).sort()).toEqual(['.', 'docs', 'docs/a.txt', 'notes', 'notes/todo.txt']);
    expect(got['docs/a.txt']).toEqual(snapshot(src)['docs/a.txt']);

    const missing = await runS3(['restore', url, 'docs/nope.txt', '--to', path.join(tempDir(), 'r')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/docs\/nope\.txt: not in s3:\/\//);
  });
});

describe.skipIf(rgw === null)('restore and assemble from s3:// use the matching config job\'s endpoint', () => {
  afterAll(closeClient);

  /** A config whose job backs up into `dest` through the real gateway; the environment points nowhere. */
  function configFor(dest: string, extra: Record<string, unknown>[] = []): string {
    const file = path.join(tempDir(), 'config.json');
    const jobs = [
      // Same bucket, a shorter prefix: the longer match below wins.
      { source: tempDir(), dest: dest.replace(/\/[^/]+$/, ''), endpoint: NOWHERE },
      { source: tempDir(), dest, endpoint: rgw?.endpoint, pathStyle: true },
      ...extra,
    ];
    fs.writeFileSync(file, JSON.stringify({ jobs }));
    return file;
  }

  it('restore: the job whose dest holds the URL gives the endpoint; without the config the environment alone fails', async () => {
    const { src, url } = await backedUp();
    const config = configFor(url);
    const to = path.join(tempDir(), 'r');
    const withConfig = await runS3(['restore', url, '--to', to, '--config', config, '--quiet'], { endpoint: NOWHERE });
    expect(withConfig.stderr).toBe('');
    expect(withConfig.code).toBe(0);
    expect(snapshot(to)).toEqual(snapshot(src));

    const envOnly = await runS3(['restore', url, '--to', path.join(tempDir(), 'r')], { endpoint: NOWHERE });
    expect(envOnly.code).toBe(2);
    expect(envOnly.stderr).toMatch(/cannot be reached/);
  });

  it('assemble: an object below a job\'s dest is fetched through that job\'s endpoint', async () => {
    const bucket = await freshBucket();
    const data = Buffer.alloc(300_000, 5);
    await client().send(new PutObjectCommand({ Bucket: bucket, Key: 'home/isos/f.bin', Body: data }));
    const config = configFor(`s3://${bucket}/home`);
    const out = tempDir();
    const result = await runS3(['assemble', 'f.bin', '--from', `s3://${bucket}/home/isos/`, '--config', config, '--quiet'], { cwd: out, endpoint: NOWHERE });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(fs.readFileSync(path.join(out, 'f.bin'))).toEqual(data);
  });
});
