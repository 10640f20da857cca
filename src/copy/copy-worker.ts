/**
 * Pool entry for file copies: unpacks a task, copies its files one by one and returns their results.
 * Decisions (what to copy, what a failure means) stay on the main thread; this only does I/O.
 */
import { ProgressReporter } from '../progress/events.js';
import { copyFile } from './copy-file.js';
import type { CopyTask, FileResult } from './types.js';

export default async function copyBatch(task: CopyTask): Promise<FileResult[]> {
  const progress = new ProgressReporter(task.port);
  const stop = new Int32Array(task.stop);
  const results: FileResult[] = [];
  for (const job of task.files) {
    if (Atomics.load(stop, 0) !== 0) {
      results.push({ rel: job.rel, status: 'not-started' });
      continue;
    }
    const result = await copyFile(job, task.settings, progress);
    results.push(result);
    // Out of space: every further file would fail the same way and leave the disk fuller.
    if (result.status === 'failed' && result.code === 'ENOSPC') Atomics.store(stop, 0, 1);
  }
  progress.flush();
  task.port.close();
  return results;
}
