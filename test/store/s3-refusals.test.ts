/**
 * s3:// dests refused with exit 2 where no Ceph gateway is needed to show it: options a store cannot
 * honour (refused before any request), and a bucket in another region as AWS answers it (Ceph's gateway
 * ignores regions): a node:http server that answers every request as S3 does for a bucket elsewhere,
 * with the bucket's region in `x-amz-bucket-region`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { tempDir, writeTree } from '../helpers/tree.js';

const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** Every request is answered `status` with the region header; the methods asked are recorded. */
async function bucketElsewhere(status: 301 | 400, region: string): Promise<{ url: string; methods: string[] }> {
  const methods: string[] = [];
  const server = http.createServer((req, res) => {
    methods.push(req.method ?? '');
    req.resume();
    res.writeHead(status, { 'x-amz-bucket-region': region, 'content-length': '0' }).end();
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, methods };
}

describe('an s3:// dest whose bucket is in another region', () => {
  it.each([
    { status: 301 as const, answer: 'a redirect (the global endpoint)' },
    { status: 400 as const, answer: 'a bad request (another regional endpoint)' },
  ])('is one line naming the region, exit 2, nothing written, on $answer', async ({ status }) => {
    const store = await bucketElsewhere(status, 'eu-west-3');
    const src = tempDir();
    writeTree(src, { 'a.txt': 'a' });
    const env = { AWS_ENDPOINT_URL: store.url, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'region-test-secret-5678' };
    const result = await runCli([src, 's3://far-bucket/home'], { env });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('backup: s3://far-bucket/home/: the bucket is in region eu-west-3 (set AWS_REGION=eu-west-3, or region in the job)\n');
    expect(result.stderr).not.toContain('region-test-secret-5678');
    expect(store.methods.length).toBeGreaterThan(0);
    expect(store.methods.every((m) => m === 'HEAD' || m === 'GET')).toBe(true);
  });
});

describe('options an object store cannot honour', () => {
  it.each([
    { option: '--snapshot', message: 'snapshots are not supported on s3:// dests' },
    { option: '--hard-links', message: '--hard-links is not supported on s3:// dests (an object store has no hard links)' },
  ])('$option: one line, exit 2, not a single request', async ({ option, message }) => {
    const store = await bucketElsewhere(400, 'us-east-1');
    const src = tempDir();
    writeTree(src, { 'a.txt': 'a' });
    const result = await runCli([src, 's3://bucket/home', option], { env: { AWS_ENDPOINT_URL: store.url, AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'x' } });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`backup: s3://bucket/home: ${message}\n`);
    expect(store.methods).toEqual([]);
  });
});
