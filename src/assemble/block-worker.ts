/**
 * Pool entry for assembly: unpacks a block task, copies the block, returns the outcome. What a failure
 * means (retry elsewhere, drop the source, stop the run) is decided on the main thread.
 */
import { ProgressReporter } from '../progress/events.js';
import { copyBlock } from './copy-block.js';
import type { BlockResult, BlockTask } from './types.js';

export default function runBlock(task: BlockTask): BlockResult {
  const progress = new ProgressReporter(task.port);
  const result = copyBlock(task, progress);
  progress.flush();
  task.port.close();
  return result;
}
