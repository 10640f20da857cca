/**
 * The dest seam: where a backup's dest entries are listed from and written to. The planner stays pure
 * (it gets `list()` as a Tree, like a walk), and `execute-on-store.ts` runs the planner's phases
 * against any store. A local folder keeps its own executor (copy/execute.ts: pinned parents, the copy
 * pool, xattrs, hard links); an object store (s3/) implements this interface.
 */
import type { EntryFailure } from '../common/errors.js';
import type { RawPath } from '../common/raw-path.js';
import type { DirEntry, FileEntry, SymlinkEntry, Tree } from '../plan/types.js';
import type { ProgressSink } from '../progress/events.js';

/** What became of one file written to a store. */
export type StoreWrite =
  | { readonly status: 'written'; readonly bytes: number }
  /** --checksum: the store already holds this content. */
  | { readonly status: 'unchanged' }
  | { readonly status: 'vanished'; readonly code: string; readonly message: string }
  | { readonly status: 'failed'; readonly code: string; readonly message: string };

export interface DestStore {
  /** For messages: `s3://bucket/prefix`. */
  readonly display: string;
  /**
   * Checks that the store can be read and written as configured; throws UsageError (exit 2) with one
   * line for wrong credentials, a missing bucket, a wrong region or an unreachable endpoint.
   */
  check(): Promise<void>;
  /** Every entry the store holds, as a walk of a folder would give them (rel paths, metadata). */
  list(): Promise<Tree>;
  /** Uploads `sourcePath` as `entry.rel`; the result is data, never thrown. `sameContentSkips`: --checksum. */
  writeFile(entry: FileEntry, sourcePath: RawPath, options: { sameContentSkips: boolean; progress: ProgressSink }): Promise<StoreWrite>;
  mkdir(rel: RawPath): Promise<void>;
  symlink(entry: SymlinkEntry): Promise<void>;
  setMeta(entry: FileEntry | DirEntry): Promise<void>;
  remove(rel: RawPath, kind: 'file' | 'dir' | 'symlink' | 'special'): Promise<void>;
  /** After the plan: makes what was written durable in the store (the index); its failures. */
  commit(): Promise<readonly EntryFailure[]>;
}
