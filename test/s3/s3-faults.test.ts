/**
 * An overloaded or flaky store (issue 14): requests answered 503 SlowDown or cut off by a reset are retried
 * with backoff, and a file the store keeps refusing is a named failure (exit 1) that stops --delete.
 * The faults come from a real proxy in front of the real gateway.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { snapshot, tempDir, writeTree } from '../helpers/tree.js';
import { client, closeClient, countingProxy, freshBucket, rgw, runS3, type FaultRule, type ProxyFault } from './s3-helpers.js';

/** Fails the first `n` requests of a kind that `matches`, each with the next fault of `faults` in turn. */
function firstFailing(n: number, matches: (kind: string, path: string) => boolean, faults: readonly ProxyFault[]): FaultRule {
  let failed = 0;
  return ({ kind, path: requestPath }) => {
    if (failed >= n || !matches(kind, requestPath)) return undefined;
    return faults[failed++ % faults.length];
  };
}

async function keysOf(bucket: string): Promise<string[]> {
  const listed = await client().send(new ListObjectsV2Command({ Bucket: bucket }));
  return (listed.Contents ?? []).map((o) => o.Key ?? '').sort();
}

describe.skipIf(rgw === null)('s3:// dest behind a store that is busy or drops connections', () => {
  afterAll(closeClient);

  it("gives up a request the store answers nothing to after the job's stallTimeout, and retries it", async () => {
    const src = tempDir();
    writeTree(src, { 'a.txt': 'alpha', 'sub/b.txt': 'bravo' });
    const url = `s3://${await freshBucket()}/home`;
    const proxy = await countingProxy(firstFailing(1, (kind, requestPath) => kind === 'PUT object' && requestPath.endsWith('/a.txt'), ['stall']));
    const config = path.join(tempDir(), 'backupd.json');
    fs.writeFileSync(config, JSON.stringify({ jobs: [{ source: src, dest: url, endpoint: proxy.url, stallTimeout: '1s' }] }));
    let result;
    try {
      result = await runS3(['--config', config, '--json']);
    } finally {
      await proxy.close();
    }
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ filesCopied: 2, filesFailed: 0 });
    // The stalled PUT and its retry.
    expect(proxy.puts.filter((put) => put.path.endsWith('/home/a.txt'))).toHaveLength(2);
    const to = path.join(tempDir(), 'restored');
    expect((await runS3(['restore', url, '--to', to, '--quiet'])).code).toBe(0);
    expect(snapshot(to)).toEqual(snapshot(src));
  });

  it('retries uploads answered 503 SlowDown or reset, and the tree arrives whole', async () => {
    const src = tempDir();
    writeTree(src, {
      'a.txt': 'alpha',
      'b.txt': 'bravo',
      'sub/c.txt': 'charlie',
      'sub/d.bin': Buffer.alloc(300_000, 3),
      'big.bin': Buffer.alloc(12 * 1024 * 1024 + 5, 9),
    });
    const url = `s3://${await freshBucket()}/home`;
    // Uploads of whole objects and of multipart parts alike: the first four fail, two of each kind of fault.
    const proxy = await countingProxy(firstFailing(4, (kind) => kind === 'PUT object', ['slow-down', 'reset']));
    try {
      const result = await runS3([src, url, '--json'], { endpoint: proxy.url });
      expect(result.code, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout)).toMatchObject({ filesTotal: 5, filesCopied: 5, filesFailed: 0 });
      // Every file, the parts of big.bin and the index were put at least once, and the four faults again.
      expect(proxy.counts.get('PUT object') ?? 0).toBeGreaterThanOrEqual(4 + 5);
    } finally {
      await proxy.close();
    }
    const to = path.join(tempDir(), 'restored');
    const restore = await runS3(['restore', url, '--to', to, '--quiet']);
    expect(restore.code, restore.stderr).toBe(0);
    expect(snapshot(to)).toEqual(snapshot(src));
  });

  it('a file the store keeps refusing is named, exit 1, the rest uploaded, and --delete does not run', async () => {
    const src = tempDir();
    writeTree(src, { 'keep.txt': 'k', 'gone.txt': 'g' });
    const bucket = await freshBucket();
    const url = `s3://${bucket}/home`;
    expect((await runS3([src, url, '--quiet'])).code).toBe(0);
    fs.rmSync(path.join(src, 'gone.txt'));
    writeTree(src, { 'refused.txt': 'r', 'fine.txt': 'f' });
    const refuseOne: FaultRule = ({ kind, path: requestPath }) => (kind === 'PUT object' && requestPath.endsWith('/home/refused.txt') ? 'slow-down' : undefined);
    const proxy = await countingProxy(refuseOne);
    let result;
    try {
      result = await runS3([src, url, '--delete', '--json'], { endpoint: proxy.url, timeoutMs: 120_000 });
    } finally {
      await proxy.close();
    }
    expect(result.code).toBe(1);
    const summary = JSON.parse(result.stdout) as { filesFailed: number; errors: { path: string }[] };
    expect(summary.filesFailed).toBe(1);
    expect(summary.errors.map((e) => e.path).join('\n')).toContain('refused.txt');
    expect(result.stderr).toContain('deletes skipped');
    const keys = await keysOf(bucket);
    expect(keys).toEqual(expect.arrayContaining(['home/fine.txt', 'home/gone.txt', 'home/keep.txt']));
    expect(keys).not.toContain('home/refused.txt');
  });

  it('a body damaged on the way is refused by the store (Content-MD5 of each put and part): named, exit 1, not recorded', async () => {
    const src = tempDir();
    writeTree(src, { 'small.txt': 'a small file, one PutObject', 'big.bin': Buffer.alloc(40 * 1024 * 1024, 5), 'fine.txt': 'f' });
    const url = `s3://${await freshBucket()}/home`;
    // The first upload request of each damaged file: small.txt's PutObject and one part of big.bin.
    const damaged = new Set<string>();
    const corruptFirst: FaultRule = ({ kind, path: requestPath }) => {
      const name = ['small.txt', 'big.bin'].find((n) => requestPath.endsWith(`/home/${n}`));
      if (kind !== 'PUT object' || name === undefined || damaged.has(name)) return undefined;
      damaged.add(name);
      return 'corrupt';
    };
    const proxy = await countingProxy(corruptFirst);
    let result;
    try {
      result = await runS3([src, url, '--json'], { endpoint: proxy.url });
    } finally {
      await proxy.close();
    }
    expect(result.code, result.stderr).toBe(1);
    const summary = JSON.parse(result.stdout) as { filesCopied: number; errors: { path: string; code: string }[] };
    expect(summary.filesCopied).toBe(1);
    expect(summary.errors.map((e) => [path.basename(e.path), e.code]).sort()).toEqual([
      ['big.bin', 'BadDigest'],
      ['small.txt', 'BadDigest'],
    ]);
    const rerun = await runS3([src, url, '--json']);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(JSON.parse(rerun.stdout)).toMatchObject({ filesCopied: 2 });
    const to = path.join(tempDir(), 'restored');
    expect((await runS3(['restore', url, '--to', to, '--quiet'])).code).toBe(0);
    expect(snapshot(to)).toEqual(snapshot(src));
  });
});
