/**
 * The one place that creates piscina pools.
 *
 * Worker threads cannot load TypeScript, so workers always run from the build in dist/. When this module
 * itself is loaded from src/ (under vitest), the worker files are looked up in dist/ next to src/; the
 * test setup builds dist/ before any test runs.
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Piscina } from 'piscina';
import type * as PiscinaModule from 'piscina';

// Loaded on first use (synchronously, through require): a run with nothing to copy never pays the
// ~15 ms it takes to import piscina.
const require = createRequire(import.meta.url);

export type WorkerName = 'copy/copy-worker.js' | 'assemble/block-worker.js' | 'assemble/hash-worker.js' | 'store/s3/part-worker.js';

function distFile(name: WorkerName | 'common/worker-entry.cjs'): string {
  const runningFromSource = import.meta.url.endsWith('.ts');
  const distRoot = runningFromSource ? new URL('../../dist/', import.meta.url) : new URL('../', import.meta.url);
  return fileURLToPath(new URL(name, distRoot));
}

/** Threads to use when the user did not say: file copying is I/O-bound, so a little above the core count. */
export function defaultThreads(): number {
  return Math.max(2, Math.min(8, os.availableParallelism()));
}

export function createPool(name: WorkerName, threads: number): Piscina {
  const { Piscina: PiscinaPool } = require('piscina') as typeof PiscinaModule;
  return new PiscinaPool({
    // See worker-entry.cts: a CommonJS entry that import()s the ESM worker module named in workerData.
    filename: distFile('common/worker-entry.cjs'),
    workerData: { module: pathToFileURL(distFile(name)).href },
    minThreads: threads,
    maxThreads: threads,
    // Tasks are coarse (a batch of files or a block); more than a couple queued per thread only delays
    // the reaction to a stop (disk full, SIGTERM).
    maxQueue: 'auto',
    idleTimeout: 30_000,
    // Worker code allocates little on the JS heap (file data lives in Buffers): V8's default young
    // generation (up to 48 MiB per thread) only grew the process. Measured, 200,000 small files at load
    // 16: peak RSS 231-240 -> 189-197 MiB, time the same or better.
    resourceLimits: { maxYoungGenerationSizeMb: 8 },
  });
}
