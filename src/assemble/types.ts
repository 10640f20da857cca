/** The messages between the assembler and the block workers: one block in, its outcome out. */
import type { MessagePort } from 'node:worker_threads';
import type { RawPath } from '../common/raw-path.js';

/** What piece hashes are made with (Metalink: sha-256, or sha-1 where a file has no other). */
export type PieceAlgorithm = 'sha1' | 'sha256';

/** What a local copy looked like at the start: its content is only trusted while both still hold. */
export interface SourceVersion {
  readonly size: number;
  readonly mtimeMs: number;
}

/** One block to copy from a source into the .part at the same offset. Paths are absolute raw paths. */
export interface BlockJob {
  readonly source: RawPath;
  /** The source as it was found at the start; one of another size or mtime has changed since. */
  readonly sourceVersion: SourceVersion;
  readonly part: RawPath;
  readonly offset: number;
  readonly length: number;
  /** Hash what is written with this algorithm (the download has piece hashes); costs CPU, so only then. */
  readonly hash: PieceAlgorithm | undefined;
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
  /** `sha256`: the hash of the bytes written, with the job's algorithm ('' unless it asked): checked against the piece hash, if the download has them. */
  | { readonly status: 'done'; readonly bytesRead: number; readonly sha256: string }
  | {
      readonly status: 'failed';
      readonly side: 'source' | 'output';
      readonly code: string;
      readonly message: string;
      readonly bytesRead: number;
    };

/** The result's hash: the .part to read, and the port on which its done prefix is announced. */
export interface HashTask {
  readonly part: RawPath;
  readonly port: MessagePort;
}

/** Hash up to byte `upTo` (the end of the done prefix); `end`: that is all, return the digest. */
export interface HashMessage {
  readonly upTo: number;
  readonly end: boolean;
}
