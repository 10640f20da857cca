/**
 * The copy pool: piscina threads running copy-worker, fed one batch at a time with a fresh MessagePort
 * for its progress. Created on first use, so a run with nothing to copy never starts a thread.
 */
import { MessageChannel } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import { createPool } from '../common/worker-pool.js';
import { listenForProgress, type ProgressSink } from '../progress/events.js';
import type { CopySettings, CopyTask, FileJob, FileResult } from './types.js';

export class CopyPool {
  private pool: Piscina | undefined;

  constructor(readonly threads: number) {}

  /**
   * Starts the threads now, so that they boot on the other cores while the main thread walks the trees.
   * Worth it when copies are certain (a first backup into a new dest).
   */
  warmUp(): Piscina {
    this.pool ??= createPool('copy/copy-worker.js', this.threads);
    return this.pool;
  }

  async run(files: readonly FileJob[], settings: CopySettings, stop: SharedArrayBuffer, progress: ProgressSink): Promise<FileResult[]> {
    const pool = this.warmUp();
    const { port1, port2 } = new MessageChannel();
    listenForProgress(port1, progress);
    const task: CopyTask = { files, settings, port: port2, stop };
    try {
      return (await pool.run(task, { transferList: [port2] })) as FileResult[];
    } finally {
      // A progress message still in flight only moves the bar; counts come from the results.
      setImmediate(() => port1.close());
    }
  }

  async destroy(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.destroy();
  }
}
