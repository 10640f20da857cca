import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { collect, startCli } from '../helpers/cli.js';
import { snapshot, tempDir, writeTree } from '../helpers/tree.js';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { client, closeClient, countingProxy, freshBucket, rgw, runS3, s3Env } from './s3-helpers.js';

/** Polls `check` until it holds or the deadline passes (a loaded machine: no fixed sleeps). */
async function eventually(check: () => Promise<boolean>, deadlineMs = 45_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not reached before the deadline');
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

async function restoredEquals(url: string, src: string): Promise<boolean> {
  const to = path.join(tempDir(), 'r');
  const result = await runS3(['restore', url, '--to', to, '--quiet']);
  if (result.code !== 0) return false;
  // Folder mtimes move with every change in the source and are caught up by later runs; contents, types
  // and modes are what the mirror must show (mtimes of files are checked by the round-trip test).
  return JSON.stringify(snapshot(to, { mtimes: false })) === JSON.stringify(snapshot(src, { mtimes: false }));
}

describe.skipIf(rgw === null)('backup watch into an s3:// dest (real Ceph RGW)', () => {
  afterAll(closeClient);

  it('mirrors the initial tree, then new files, new folders and changes into the bucket', async () => {
    const src = tempDir();
    writeTree(src, { 'a.txt': 'a', 'sub/b.txt': 'b' });
    const url = `s3://${await freshBucket()}/w`;
    const daemon = startCli(['watch', src, url, '--settle', '200'], { env: s3Env() });
    const done = collect(daemon, 120_000);
    try {
      await eventually(() => restoredEquals(url, src));
      fs.writeFileSync(path.join(src, 'a.txt'), 'a, changed');
      writeTree(src, { 'new/deep/c.txt': 'c', 'd.txt': 'd' });
      await eventually(() => restoredEquals(url, src));
    } finally {
      daemon.kill('SIGTERM');
    }
    const result = await done;
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/copied/);
  });

  it('a shutdown during the initial sync starts no new upload; the next run uploads the rest', async () => {
    const src = tempDir();
    const files = 200;
    writeTree(src, Object.fromEntries(Array.from({ length: files }, (_, i) => [`f${i}.txt`, `file ${i}`])));
    const bucket = await freshBucket();
    const url = `s3://${bucket}/w`;
    // Each upload takes a quarter of a second: 200 of them, 16 at a time, outlast the shutdown by far.
    const proxy = await countingProxy(({ kind }) => (kind === 'PUT object' ? 'slow' : undefined));
    let result;
    try {
      const daemon = startCli(['watch', src, url], { env: s3Env(proxy.url) });
      const done = collect(daemon, 120_000);
      await eventually(async () => (proxy.counts.get('PUT object') ?? 0) > 0);
      daemon.kill('SIGTERM');
      result = await done;
    } finally {
      await proxy.close();
    }
    expect(result.code, result.stderr).toBe(0);
    const listed = await client().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'w/f' }));
    expect(listed.KeyCount ?? 0).toBeLessThan(files);
    const rerun = await runS3([src, url, '--quiet']);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(await restoredEquals(url, src)).toBe(true);
  });
});
