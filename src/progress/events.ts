/**
 * Progress messages from worker threads to the main thread.
 *
 * A worker reports through the MessagePort handed over with its task. Messages are deltas (bytes and
 * files finished since the previous message) so the receiver only adds; they are throttled because a
 * message per 64 KiB chunk would cost more than the copy. Final counts never come from here: a port
 * message can arrive after the task's result, so totals are taken from task results.
 */
import type { MessagePort } from 'node:worker_threads';

export interface ProgressDelta {
  readonly type: 'progress';
  readonly bytes: number;
  readonly files: number;
}

export type ProgressMessage = ProgressDelta;

/** Whatever shows progress on the main thread: a bar, a log, or nothing. */
export interface ProgressSink {
  advance(bytes: number, files: number): void;
}

export const NO_PROGRESS: ProgressSink = { advance() {} };

const FLUSH_INTERVAL_MS = 100;

/** Worker side: accumulates deltas and posts them at most every FLUSH_INTERVAL_MS. */
export class ProgressReporter {
  private bytes = 0;
  private files = 0;
  private lastFlush = 0;

  constructor(private readonly port: MessagePort | undefined) {}

  add(bytes: number, files = 0): void {
    this.bytes += bytes;
    this.files += files;
    const now = Date.now();
    if (now - this.lastFlush >= FLUSH_INTERVAL_MS) {
      this.lastFlush = now;
      this.flush();
    }
  }

  /** Posts what is pending; call before the task returns so no delta is left behind. */
  flush(): void {
    if (this.port === undefined || (this.bytes === 0 && this.files === 0)) return;
    const message: ProgressMessage = { type: 'progress', bytes: this.bytes, files: this.files };
    this.port.postMessage(message);
    this.bytes = 0;
    this.files = 0;
  }
}

/** Main side: feeds every delta arriving on `port` into `sink`. */
export function listenForProgress(port: MessagePort, sink: ProgressSink): void {
  port.on('message', (message: ProgressMessage) => {
    if (message.type === 'progress') sink.advance(message.bytes, message.files);
  });
}
