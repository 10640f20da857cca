/**
 * What the watch daemon reports: one event per thing that happened. The CLI turns them into log lines
 * (text or JSON); the engine never prints. Paths are for humans (already decoded from raw bytes).
 */
export type WatchEvent =
  | { readonly type: 'watching'; readonly path: string; readonly dest: string; readonly durationMs: number }
  /** `rescan`: found by a re-scan (initial sync, new folder), which logs a summary; such lines are debug. */
  | { readonly type: 'copied'; readonly path: string; readonly bytes: number; readonly durationMs: number; readonly rescan?: true }
  | { readonly type: 'deleted'; readonly path: string; readonly rescan?: true }
  | { readonly type: 'failed'; readonly path: string; readonly code: string; readonly message: string; readonly retryInMs?: number }
  | { readonly type: 'warning'; readonly path: string; readonly code: string; readonly message: string }
  /** The initial sync (or a full re-sync after the source came back or rules changed) is done. */
  | {
      readonly type: 'sync-finished';
      readonly path: string;
      readonly files: number;
      readonly copied: number;
      readonly failed: number;
      readonly bytes: number;
      readonly durationMs: number;
    }
  /** Folders re-scanned after start-up (new, moved in, retried): one line for all files found in them. */
  | {
      readonly type: 'rescan-finished';
      readonly path: string;
      readonly folders: number;
      readonly files: number;
      readonly copied: number;
      readonly failed: number;
      readonly bytes: number;
      readonly durationMs: number;
    }
  /** A snapshot of a snapshot dest's current/ was taken (`path`: the dest). */
  | { readonly type: 'snapshot'; readonly path: string; readonly name: string; readonly files: number; readonly bytesNew: number; readonly linked: number; readonly copied: number }
  /** An interval ended in which nothing changed in current/: no snapshot (`latest`: the newest one). */
  | { readonly type: 'snapshot-skipped'; readonly path: string; readonly latest: string | undefined }
  | { readonly type: 'source-missing'; readonly path: string }
  | { readonly type: 'source-back'; readonly path: string }
  | { readonly type: 'reloaded'; readonly path: string; readonly jobs: number }
  | { readonly type: 'stopping'; readonly signal: string }
  | { readonly type: 'stopped' };

export type WatchEventType = WatchEvent['type'];

export type WatchLog = (event: WatchEvent) => void;
