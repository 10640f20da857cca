/** The messages between the executor and the copy workers: tasks in, results out. */
import type { MessagePort } from 'node:worker_threads';
import type { RawPath } from '../common/raw-path.js';
import type { AttributeProblem } from './xattrs.js';

/** One file to copy. Paths are absolute raw paths; metadata is from the scan (checked again on open). */
export interface FileJob {
  readonly rel: RawPath;
  readonly src: RawPath;
  readonly dst: RawPath;
  /** Compare content with dest first and leave it when equal (--checksum with equal sizes). */
  readonly skipIfSameContent: boolean;
  /** Size and mtime at the scan: a file found different at the copy is copied as it is, and reported. */
  readonly scanned: { readonly size: number; readonly mtimeMs: number };
}

export interface CopySettings {
  /** Re-read each written file and compare its hash with the one taken while copying. */
  readonly verify: boolean;
  /** Restore uid/gid (only when running as root). */
  readonly keepOwner: boolean;
  /** Copy extended attributes (and with them POSIX ACLs and file capabilities). */
  readonly xattrs: boolean;
}

export interface CopyTask {
  readonly files: readonly FileJob[];
  readonly settings: CopySettings;
  /** Progress deltas go here; transferred with the task. */
  readonly port: MessagePort;
  /** Int32Array over this: non-zero means "start no new file" (disk full, shutdown). */
  readonly stop: SharedArrayBuffer;
}

export type FileResult =
  /** `changedSinceScan`: the content copied is newer than what the scan saw (worth a warning). */
  | { readonly rel: RawPath; readonly status: 'copied'; readonly bytes: number; readonly changedSinceScan: boolean; readonly attributeProblems?: readonly AttributeProblem[] }
  /** --checksum found identical content; only metadata was refreshed. */
  | { readonly rel: RawPath; readonly status: 'unchanged'; readonly attributeProblems?: readonly AttributeProblem[] }
  /** Gone or no longer a regular file since the scan: nothing to copy, worth a warning. */
  | { readonly rel: RawPath; readonly status: 'vanished'; readonly code: string; readonly message: string }
  /** `side`: whether reading the source or writing dest failed (the path to name in the report). */
  | { readonly rel: RawPath; readonly status: 'failed'; readonly side: 'source' | 'dest'; readonly code: string; readonly message: string }
  /** Never started because a stop was requested. */
  | { readonly rel: RawPath; readonly status: 'not-started' };

export type FileStatus = FileResult['status'];
