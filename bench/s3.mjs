#!/usr/bin/env node
/**
 * backupd vs `rclone sync` (S3 provider Ceph, same --transfers) against one throwaway Ceph RGW
 * (test/helpers/ceph-rgw.sh, memstore): 20,000 small files, 4 × 256 MiB, and the no-op rerun of each.
 * Data on tmpfs (/dev/shm). Run: `node bench/s3.mjs`.
 * Env: SMALL_FILES (20000), LARGE_MIB (256), LARGE_COUNT (4), TRANSFERS (16).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCRIPT = path.join(ROOT, 'test/helpers/ceph-rgw.sh');
const CLI = path.join(ROOT, 'dist/cli/main.js');
const SMALL = Number(process.env.SMALL_FILES ?? 20_000);
const LARGE_MIB = Number(process.env.LARGE_MIB ?? 256);
const LARGE_COUNT = Number(process.env.LARGE_COUNT ?? 4);
const TRANSFERS = Number(process.env.TRANSFERS ?? 16);

const work = fs.mkdtempSync('/dev/shm/backupd-s3-bench-');
const cluster = fs.mkdtempSync(path.join(os.tmpdir(), 'backupd-s3-bench-rgw-'));

function makeData() {
  const small = path.join(work, 'small');
  for (let i = 0; i < SMALL; i++) {
    const dir = path.join(small, `d${i % 100}`);
    if (i < 100) fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `f${i}.txt`), randomBytes(512 + (i % 8) * 1024));
  }
  const large = path.join(work, 'large');
  fs.mkdirSync(large);
  const block = randomBytes(1024 * 1024);
  for (let i = 0; i < LARGE_COUNT; i++) {
    const fd = fs.openSync(path.join(large, `big${i}.bin`), 'w');
    for (let m = 0; m < LARGE_MIB; m++) {
      block[0] = m & 255;
      block[1] = i;
      fs.writeSync(fd, block);
    }
    fs.closeSync(fd);
  }
  return { small, large };
}

function timed(command, args, env) {
  const started = process.hrtime.bigint();
  // rclone's SDK fails on AWS_CA_BUNDLE with its own transport ("unsupported transport"); plain http here.
  const inherited = { ...process.env };
  delete inherited.AWS_CA_BUNDLE;
  const result = spawnSync(command, args, { env: { ...inherited, ...env }, encoding: 'utf8', maxBuffer: 1 << 26 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status}: ${result.stderr.slice(-2000)}`);
  return seconds;
}

let stopCluster = () => {};
try {
  const out = execFileSync(SCRIPT, ['start', cluster], { encoding: 'utf8' });
  stopCluster = () => execFileSync(SCRIPT, ['stop', cluster], { stdio: 'inherit' });
  const value = (name) => new RegExp(`^${name}=(.*)$`, 'm').exec(out)[1].trim();
  const endpoint = value('ENDPOINT');
  const s3env = { AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: value('ACCESS_KEY'), AWS_SECRET_ACCESS_KEY: value('SECRET_KEY'), AWS_REGION: 'us-east-1' };
  const rcloneEnv = {
    RCLONE_CONFIG_CEPH_TYPE: 's3',
    RCLONE_CONFIG_CEPH_PROVIDER: 'Ceph',
    RCLONE_CONFIG_CEPH_ENDPOINT: endpoint,
    RCLONE_CONFIG_CEPH_ACCESS_KEY_ID: s3env.AWS_ACCESS_KEY_ID,
    RCLONE_CONFIG_CEPH_SECRET_ACCESS_KEY: s3env.AWS_SECRET_ACCESS_KEY,
    RCLONE_CONFIG_CEPH_REGION: 'us-east-1',
  };
  const { small, large } = makeData();
  for (const bucket of ['bench-backupd', 'bench-rclone']) timed('rclone', ['mkdir', `ceph:${bucket}`], rcloneEnv);
  const rows = [];
  for (const [name, src] of [[`${SMALL} small files`, small], [`${LARGE_COUNT} × ${LARGE_MIB} MiB`, large]]) {
    const key = path.basename(src);
    const backupd = () => timed('node', [CLI, src, `s3://bench-backupd/${key}`, '--quiet', '-j', String(TRANSFERS)], s3env);
    const rclone = () => timed('rclone', ['sync', '--transfers', String(TRANSFERS), '--checkers', String(TRANSFERS), src, `ceph:bench-rclone/${key}`], rcloneEnv);
    const first = { backupd: backupd(), rclone: rclone() };
    rows.push({ name, ...first });
    const again = { backupd: backupd(), rclone: rclone() };
    rows.push({ name: `${name}, no-op rerun`, ...again });
  }
  const load = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  console.log(`backupd vs rclone sync --transfers ${TRANSFERS} (S3 provider Ceph), one Ceph 16 RGW (memstore) on 127.0.0.1, data on tmpfs`);
  console.log(`${new Date().toISOString()}, ${os.cpus().length} cores, load average ${load}`);
  console.log('| case | backupd s | rclone s | ratio |');
  console.log('|---|---:|---:|---:|');
  for (const row of rows) console.log(`| ${row.name} | ${row.backupd.toFixed(2)} | ${row.rclone.toFixed(2)} | ${(row.backupd / row.rclone).toFixed(2)}× |`);
} finally {
  stopCluster();
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(cluster, { recursive: true, force: true });
}
