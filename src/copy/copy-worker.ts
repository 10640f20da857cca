/**
 * Pool entry for file copies: unpacks a task, copies its files one by one and returns their results.
 * Decisions (what to copy, what a failure means) stay on the main thread; this only does I/O.
 */
import { ProgressReporter } from '../progress/events.js';
import { ParentPins } from './confine.js';
import { copyFile } from './copy-file.js';
import type { CopyTask, FileResult } from './types.js';

export default async function copyBatch(task: CopyTask): Promise<FileResult[]> {
  const progress = new ProgressReporter(task.port);
  const stop = new Int32Array(task.stop);
  const pins = new ParentPins();
  let results: FileResult[];
  try {
    results = await copyAll(task, progress, stop, pins);
  } finally {
    pins.close();
  }
  progress.flush();
  task.port.close();
  return results;
}

async function copyAll(task: CopyTask, progress: ProgressReporter, stop: Int32Array, pins: ParentPins): Promise<FileResult[]> {
  const results: FileResult[] = [];
  for (const job of task.files) {
    if (Atomics.load(stop, 0) !== 0) {
      results.push({ rel: job.rel, status: 'not-started' });
      continue;
    }
    const result = await copyFile(job, task.settings, progress, pins);
    results.push(result);
    // Out of space: every further file would fail the same way and leave the disk fuller.
    if (result.status === 'failed' && result.code === 'ENOSPC') Atomics.store(stop, 0, 1);
  }
  return results;
}
