import fs from 'node:fs';
import path from 'node:path';
import { CreateMultipartUploadCommand, ListMultipartUploadsCommand, ListObjectsV2Command, ListPartsCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { startCli } from '../helpers/cli.js';
import { sha256File, snapshot, tempDir, writeTree } from '../helpers/tree.js';
import { client, closeClient, countingProxy, freshBucket, rgw, runS3, s3Env } from './s3-helpers.js';

const BAD_NAME = Buffer.from('caf\xe9-latin1.txt', 'latin1');

function sourceTree(): string {
  const src = tempDir();
  writeTree(src, {
    'docs/a.txt': { content: 'alpha', mode: 0o640, mtime: new Date('2020-01-02T03:04:05.678Z') },
    'docs/run.sh': { content: '#!/bin/sh\n', mode: 0o755 },
    'docs/100%.txt': 'percent',
    'empty': { dir: true, mode: 0o750 },
    'links/to-a': { symlink: '../docs/a.txt' },
    'links/dangling': { symlink: 'nowhere' },
    'big.bin': Buffer.alloc(40 * 1024 * 1024 + 123, 7),
  });
  fs.writeFileSync(Buffer.from(path.join(src, 'docs/') + BAD_NAME.toString('latin1'), 'latin1'), 'bytes');
  return src;
}

async function restored(url: string): Promise<string> {
  const to = path.join(tempDir(), 'restored');
  const result = await runS3(['restore', url, '--to', to, '--quiet']);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return to;
}

describe.skipIf(rgw === null)('s3:// dest against a real Ceph RGW', () => {
  afterAll(closeClient);
  it('backs up a tree and restores it exactly: non-UTF-8 names, symlinks, empty folders, modes, mtimes, a multipart file', async () => {
    const src = sourceTree();
    const bucket = await freshBucket();
    const url = `s3://${bucket}/home`;
    const proxy = await countingProxy();
    try {
      const first = await runS3([src, url, '--json'], { endpoint: proxy.url });
      expect(first.code).toBe(0);
      expect(JSON.parse(first.stdout)).toMatchObject({ filesTotal: 5, filesCopied: 5, filesFailed: 0 });
    } finally {
      await proxy.close();
    }
    // Bodies behind a signed Content-MD5 (files, parts) skip the payload's SHA-256; the others (folder and
    // symlink markers, the index) are signed with it.
    const md5Puts = proxy.puts.filter((put) => put.md5);
    expect(md5Puts.length).toBeGreaterThan(3);
    expect(new Set(md5Puts.map((put) => put.payloadHash))).toEqual(new Set(['UNSIGNED-PAYLOAD']));
    const otherPuts = proxy.puts.filter((put) => !put.md5);
    expect(otherPuts.map((put) => put.path)).toContain(`/${bucket}/home/%index.backupd.json.gz`);
    for (const put of otherPuts) expect(put.payloadHash).toMatch(/^[0-9a-f]{64}$/);
    const to = await restored(url);
    expect(snapshot(to, { rawNames: true })).toEqual(snapshot(src, { rawNames: true }));
  });

  it('a rerun is planned from the listing alone: nothing copied, no HEAD or GET per object', async () => {
    const src = sourceTree();
    const url = `s3://${await freshBucket()}/home`;
    expect((await runS3([src, url, '--quiet'])).code).toBe(0);
    const proxy = await countingProxy();
    try {
      const again = await runS3([src, url, '--json'], { endpoint: proxy.url });
      expect(again.code).toBe(0);
      expect(JSON.parse(again.stdout)).toMatchObject({ filesCopied: 0, filesSkipped: 5 });
      expect(proxy.counts.get('HEAD object')).toBeUndefined();
      // The one object read is the index; nothing changed, so nothing is written (not even the index).
      expect(proxy.counts.get('GET object')).toBe(1);
      expect(proxy.counts.get('PUT object')).toBeUndefined();
    } finally {
      await proxy.close();
    }
    fs.writeFileSync(path.join(src, 'docs/a.txt'), 'alpha, longer');
    const changed = await runS3([src, url, '--json']);
    expect(JSON.parse(changed.stdout)).toMatchObject({ filesCopied: 1, filesSkipped: 4 });
  });

  it('--dry-run lists what a run would upload and writes nothing to the bucket', async () => {
    const src = sourceTree();
    const bucket = await freshBucket();
    const url = `s3://${bucket}/home`;
    const dry = await runS3([src, url, '--dry-run', '--json']);
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(0);
    const planned = JSON.parse(dry.stdout) as { dryRun: boolean; actions: { action: string; path: string }[] };
    expect(planned.dryRun).toBe(true);
    expect(planned.actions.filter((a) => a.action === 'copy').map((a) => a.path)).toContain('big.bin');
    expect((await client().send(new ListObjectsV2Command({ Bucket: bucket }))).KeyCount).toBe(0);
  });

  it('--checksum skips a file whose content is the same even when its mtime moved', async () => {
    const src = sourceTree();
    const url = `s3://${await freshBucket()}/c`;
    expect((await runS3([src, url, '--quiet'])).code).toBe(0);
    fs.utimesSync(path.join(src, 'docs/run.sh'), new Date('2021-01-01'), new Date('2021-01-01'));
    const again = await runS3([src, url, '--checksum', '--json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ filesCopied: 0, filesFailed: 0 });
  });

  it('--delete removes objects of files and folders gone from the source', async () => {
    const src = sourceTree();
    // Keys on either side of `links/` in key order ('-' < '/' < '0'): a folder's removal leaves them.
    writeTree(src, { 'links-kept/a.txt': 'a', 'links0.txt': '0' });
    const url = `s3://${await freshBucket()}/d`;
    expect((await runS3([src, url, '--quiet'])).code).toBe(0);
    fs.rmSync(path.join(src, 'links'), { recursive: true });
    fs.rmSync(path.join(src, 'big.bin'));
    const without = await runS3([src, url, '--quiet']);
    expect(without.code).toBe(0);
    expect(fs.readdirSync(await restored(url))).toContain('links');
    expect((await runS3([src, url, '--delete', '--quiet'])).code).toBe(0);
    expect(snapshot(await restored(url), { rawNames: true })).toEqual(snapshot(src, { rawNames: true }));
  });

  it('aborts the multipart uploads a killed run left under its prefix', async () => {
    const bucket = await freshBucket();
    await client().send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'home/big.bin' }));
    await client().send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'other/keep.bin' }));
    const src = tempDir();
    writeTree(src, { 'x.txt': 'x' });
    expect((await runS3([src, `s3://${bucket}/home`, '--quiet'])).code).toBe(0);
    const left = await client().send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    expect((left.Uploads ?? []).map((u) => u.Key)).toEqual(['other/keep.bin']);
  });

  it('a run killed mid-multipart-upload: the next run resumes its upload, sending only the parts not in the store', async () => {
    const src = tempDir();
    // 10 parts of 16 MiB.
    fs.writeFileSync(path.join(src, 'big.bin'), Buffer.alloc(160 * 1024 * 1024, 3));
    const bucket = await freshBucket();
    const url = `s3://${bucket}/k`;
    const child = startCli([src, url, '--quiet'], { env: s3Env() });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const until = Date.now() + 60_000;
    let stored = 0;
    while (stored < 2) {
      if (Date.now() > until) throw new Error('no two parts stored before the deadline');
      await new Promise((resolve) => setTimeout(resolve, 50));
      const upload = ((await client().send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? [])[0];
      if (upload === undefined) continue;
      stored = ((await client().send(new ListPartsCommand({ Bucket: bucket, Key: upload.Key, UploadId: upload.UploadId }))).Parts ?? []).length;
    }
    child.kill('SIGKILL');
    await exited;
    const proxy = await countingProxy();
    try {
      const rerun = await runS3([src, url, '--json'], { endpoint: proxy.url });
      expect(rerun.code, rerun.stderr).toBe(0);
      expect(JSON.parse(rerun.stdout)).toMatchObject({ filesCopied: 1 });
    } finally {
      await proxy.close();
    }
    const partsSent = proxy.puts.filter((put) => put.path.endsWith('/k/big.bin')).length;
    expect(partsSent).toBeLessThanOrEqual(10 - stored);
    expect((await client().send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? []).toEqual([]);
    expect(sha256File(path.join(await restored(url), 'big.bin'))).toBe(sha256File(path.join(src, 'big.bin')));
  });

  it('a stale upload is resumed only with parts that hold this content: a wrong part is sent again', async () => {
    const src = tempDir();
    // Parts of 16, 16 and 8 MiB.
    const content = Buffer.alloc(40 * 1024 * 1024, 3);
    fs.writeFileSync(path.join(src, 'big.bin'), content);
    const bucket = await freshBucket();
    const part = 16 * 1024 * 1024;
    const { UploadId } = await client().send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'k/big.bin' }));
    // Part 1 the same size as the file's but other bytes; part 2 the file's own.
    await client().send(new UploadPartCommand({ Bucket: bucket, Key: 'k/big.bin', UploadId, PartNumber: 1, Body: Buffer.alloc(part, 4) }));
    await client().send(new UploadPartCommand({ Bucket: bucket, Key: 'k/big.bin', UploadId, PartNumber: 2, Body: content.subarray(part, 2 * part) }));
    const proxy = await countingProxy();
    try {
      const run = await runS3([src, `s3://${bucket}/k`, '--quiet'], { endpoint: proxy.url });
      expect(run.code, run.stderr).toBe(0);
    } finally {
      await proxy.close();
    }
    // Parts 1 and 3 sent; part 2 kept.
    expect(proxy.puts.filter((put) => put.path.endsWith('/k/big.bin'))).toHaveLength(2);
    expect((await client().send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? []).toEqual([]);
    expect(sha256File(path.join(await restored(`s3://${bucket}/k`), 'big.bin'))).toBe(sha256File(path.join(src, 'big.bin')));
  });

  it('wrong credentials and a missing bucket: one line, exit 2, no secret shown', async () => {
    const src = tempDir();
    writeTree(src, { 'x.txt': 'x' });
    const bucket = await freshBucket();
    const wrong = await runS3([src, `s3://${bucket}/p`], { env: { AWS_SECRET_ACCESS_KEY: 'not-the-secret-1234' } });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/^backup: s3:\/\/.*access denied.*\n$/);
    expect(wrong.stderr).not.toContain('not-the-secret-1234');
    const missing = await runS3([src, 's3://no-such-bucket-here/p']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^backup: s3:\/\/no-such-bucket-here\/p\/: no such bucket\n$/);
    const unreachable = await runS3([src, `s3://${bucket}/p`], { endpoint: 'http://127.0.0.1:9' });
    expect(unreachable.code).toBe(2);
    expect(unreachable.stderr).toMatch(/cannot be reached/);
  });
});

describe.skipIf(rgw === null)('a file that changes while it is uploaded (real Ceph RGW)', () => {
  afterAll(closeClient);

  it('is reported ECHANGED, exit 1, not recorded: the next run copies it again', async () => {
    const src = tempDir();
    const file = path.join(src, 'growing.bin');
    fs.writeFileSync(file, Buffer.alloc(48 * 1024 * 1024, 1));
    const url = `s3://${await freshBucket()}/g`;
    // A writer appending every few milliseconds for as long as the upload runs.
    let writing = true;
    const writer = (async () => {
      while (writing) {
        fs.appendFileSync(file, 'x');
        await new Promise((resolve) => setTimeout(resolve, 3));
      }
    })();
    const during = await runS3([src, url, '--json']).finally(() => {
      writing = false;
    });
    await writer;
    expect(during.code).toBe(1);
    const report = JSON.parse(during.stdout) as { errors: { code: string }[] };
    expect(report.errors.map((e) => e.code)).toEqual(['ECHANGED']);
    const after = await runS3([src, url, '--json']);
    expect(after.code).toBe(0);
    expect(JSON.parse(after.stdout)).toMatchObject({ filesCopied: 1 });
  });
});
