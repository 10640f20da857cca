/** The messages between a multipart upload (multipart.ts) and its part reader (part-worker.ts). */
import type { MessagePort } from 'node:worker_threads';

export interface PartTask {
  /** The main thread's open descriptor of the file: fds belong to the process, not to a thread. */
  readonly fd: number;
  readonly size: number;
  readonly partSize: number;
  /** Main → worker: PartCredit. Worker → main: each part, in order (PartMessage). */
  readonly port: MessagePort;
}

export interface PartCredit {
  /** How many parts the worker may have read so far. */
  readonly parts: number;
  /** A sent part's buffer, back for the next read: no fresh pages to fault in, no garbage to collect. */
  readonly spare?: ArrayBuffer;
  /** The upload was given up: read no more. (A message, not the port's close: a task not yet started would miss that.) */
  readonly stop?: true;
}

export interface PartMessage {
  /** Base64, as the Content-MD5 header carries it. */
  readonly md5: string;
  /** The part is its first `length` bytes (a recycled buffer is the size of a whole part). */
  readonly body: ArrayBuffer;
  readonly length: number;
}
