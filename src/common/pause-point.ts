/**
 * A test hook for crash and race tests: with BACKUPD_PAUSE_AT=<point>[,<point>…] in the environment, the
 * process stops at those named points (saying so on stderr) and waits there to be killed, so that a kill -9
 * lands exactly between two steps of a protocol instead of at a random time. With BACKUPD_PAUSE_RESUME=<dir>
 * as well, a pause at <point> ends when <dir>/<point> exists, so that two processes can be interleaved
 * step by step. Without the variables this is one comparison.
 */
import fs from 'node:fs';
import path from 'node:path';

const PAUSE_MS = 120_000;
const RESUME_POLL_MS = 10;

export function pausePoint(name: string): void {
  const points = process.env.BACKUPD_PAUSE_AT;
  if (points === undefined || !points.split(',').includes(name)) return;
  // stderr is a pipe in tests; pipes are written synchronously on Linux, so the line is out before we block.
  process.stderr.write(`backup: paused at ${name}\n`);
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  const resumeDir = process.env.BACKUPD_PAUSE_RESUME;
  if (resumeDir === undefined) {
    Atomics.wait(sleeper, 0, 0, PAUSE_MS);
    return;
  }
  const until = Date.now() + PAUSE_MS;
  while (!fs.existsSync(path.join(resumeDir, name)) && Date.now() < until) Atomics.wait(sleeper, 0, 0, RESUME_POLL_MS);
}
