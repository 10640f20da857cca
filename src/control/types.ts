/** The control plane's data: what `status`, `log`, the event stream and the page show. Plain JSON. */

/** A watched job as the control plane names it: by its `name` in the config, or its source path. */
export interface ControlJob {
  readonly name?: string;
  readonly source: string;
  readonly dest: string;
  /** The backup is stale when its last success is older than this while it is not current. */
  readonly maxAgeMs: number;
}

export interface FailedPath {
  readonly path: string;
  readonly code: string;
  readonly message: string;
}

export interface RunRecord {
  readonly at: string;
  readonly durationMs: number;
  readonly full: boolean;
  readonly filesCopied: number;
  readonly bytesCopied: number;
  readonly failed: readonly FailedPath[];
}

/** `watcher-died`: part of the tree is no longer watched (a folder could not be watched); see JobStatus.watchFailure. */
export type JobStateName = 'syncing' | 'watching' | 'retrying' | 'paused' | 'source-missing' | 'watcher-died';

export interface InFlight {
  readonly bytes: number;
  readonly totalBytes: number;
  /** Bytes per second since the run started. */
  readonly rate: number;
  readonly etaMs: number | null;
}

export interface JobStatus {
  readonly name: string | null;
  readonly source: string;
  readonly dest: string;
  readonly state: JobStateName;
  readonly paused: boolean;
  readonly lastRun: RunRecord | null;
  readonly lastSuccess: string | null;
  readonly pending: number;
  readonly inFlight: InFlight | null;
  readonly nextRetry: { readonly at: string; readonly reason: string } | null;
  readonly latestSnapshot: { readonly at: string; readonly path: string } | null;
  /** The folder the watch lost and why, while it is lost (until a full sync watches again). */
  readonly watchFailure: { readonly path: string; readonly code: string; readonly message: string } | null;
  readonly maxAgeMs: number;
  /** Since the daemon started (for /metrics counters). */
  readonly totals: { readonly runs: number; readonly filesCopied: number; readonly bytesCopied: number; readonly failures: number; readonly durationMs: number };
  readonly healthy: boolean;
  /** Why not healthy: "failing: 2 path(s)", "stale: last success 27h ago". */
  readonly problems: readonly string[];
}

export type DownloadState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

export interface DownloadStatus {
  readonly id: string;
  readonly output: string;
  readonly state: DownloadState;
  readonly bytes: number;
  readonly totalBytes: number | null;
  readonly sources: readonly string[];
  readonly error: string | null;
}

export interface StatusReport {
  readonly pid: number;
  readonly startedAt: string;
  readonly jobs: readonly JobStatus[];
  readonly downloads: readonly DownloadStatus[];
}

/** One line of the history log ($XDG_STATE_HOME/backupd/history.jsonl). */
export type HistoryEntry =
  | ({ readonly type: 'run'; readonly job: string } & RunRecord)
  | {
      readonly type: 'download';
      readonly at: string;
      readonly id: string;
      readonly output: string;
      readonly state: DownloadState;
      readonly bytes: number;
      readonly error: string | null;
    }
  | {
      readonly type: 'snapshot';
      readonly job: string;
      readonly at: string;
      /** The snapshot's folder: <dest>/snapshots/<name>. */
      readonly path: string;
      readonly files: number;
      readonly bytesNew: number;
    };

/** Jobs are named by their config `name` or their source path. */
export function jobLabel(job: { readonly name?: string | null; readonly source: string }): string {
  return job.name ?? job.source;
}

/** A job as the user typed it, and the real path that names on the client's side (when it is one). */
export interface JobSelector {
  readonly job: string;
  readonly path?: string;
}

export function jobMatches(job: { readonly name?: string | null; readonly source: string }, wanted: JobSelector): boolean {
  return job.name === wanted.job || job.source === wanted.job || job.source === wanted.path;
}
