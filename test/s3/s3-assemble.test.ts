import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256File, tempDir } from '../helpers/tree.js';
import { client, closeClient, freshBucket, rgw, runS3 } from './s3-helpers.js';

describe.skipIf(rgw === null)('assemble from an s3:// source (real Ceph RGW)', () => {
  afterAll(closeClient);

  it('assembles from an object plus a local copy, verified by its SHA-256', async () => {
    const data = randomBytes(6 * 1024 * 1024 + 17);
    const bucket = await freshBucket();
    await client().send(new PutObjectCommand({ Bucket: bucket, Key: 'isos/f.bin', Body: data }));
    const local = tempDir();
    fs.writeFileSync(path.join(local, 'f.bin'), data);
    const out = tempDir();
    const digest = createHash('sha256').update(data).digest('hex');
    const result = await runS3(['assemble', 'f.bin', '--from', `s3://${bucket}/isos/`, local, '--block-size', '1MiB', '--sha256', digest, '--json'], { cwd: out });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(sha256File(path.join(out, 'f.bin'))).toBe(digest);
    const report = JSON.parse(result.stdout) as { sources: { source: string; bytes: number }[] };
    expect(report.sources.length).toBe(2);
  });

  it('a missing bucket as a source: exit 2 before anything is written', async () => {
    const out = tempDir();
    const result = await runS3(['assemble', 'f.bin', '--from', 's3://no-such-bucket-at-all/x/'], { cwd: out });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/no such bucket/);
    expect(fs.readdirSync(out)).toEqual([]);
  });
});
