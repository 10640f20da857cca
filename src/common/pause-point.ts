/**
 * A test hook for crash tests: with BACKUPD_PAUSE_AT=<point> in the environment, the process stops at that
 * named point (saying so on stderr) and waits there to be killed, so that a kill -9 lands exactly between
 * two steps of a protocol instead of at a random time. Without the variable this is one comparison.
 */
const PAUSE_MS = 120_000;

export function pausePoint(name: string): void {
  if (process.env.BACKUPD_PAUSE_AT !== name) return;
  // stderr is a pipe in tests; pipes are written synchronously on Linux, so the line is out before we block.
  process.stderr.write(`backup: paused at ${name}\n`);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, PAUSE_MS);
}
