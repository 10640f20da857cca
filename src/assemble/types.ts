/** The messages between the assembler and the block workers: one block in, its outcome out. */
import type { MessagePort } from 'node:worker_threads';
import type { RawPath } from '../common/raw-path.js';

/** One block to copy from a source into the .part at the same offset. Paths are absolute raw paths. */
export interface BlockJob {
  readonly source: RawPath;
  /** The size every source was found to have; a source of any other size has changed since. */
  readonly sourceSize: number;
  readonly part: RawPath;
  readonly offset: number;
  readonly length: number;
  /** Hash what is written (the download has piece hashes); costs CPU, so only then. */
  readonly hash: boolean;
}

export interface BlockTask extends BlockJob {
  /** Progress deltas (bytes) go here; transferred with the task. */
  readonly port: MessagePort;
}

/**
 * `side` tells the assembler whom to blame: a source failure sends the block to another source, an output
 * failure (disk full, .part gone) stops the whole run. `bytesRead` counts source bytes either way.
 */
export type BlockResult =
  /** `sha256` of the bytes written ('' unless the job asked): checked against the piece hash, if the download has them. */
  | { readonly status: 'done'; readonly bytesRead: number; readonly sha256: string }
  | {
      readonly status: 'failed';
      readonly side: 'source' | 'output';
      readonly code: string;
      readonly message: string;
      readonly bytesRead: number;
    };
