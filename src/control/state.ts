/**
 * The daemon's state as the control plane reports it: fed by the jobs' runs and log events, read as a
 * StatusReport. Pure bookkeeping, no I/O, time passed in: tested without a daemon.
 */
import type { RawPath } from '../common/raw-path.js';
import type { WatchEvent } from '../watch/events.js';
import type { RunEnd, RunStart } from '../watch/job-runner.js';
import type { ControlJob, InFlight, JobStateName, JobStatus, RunRecord } from './types.js';

/** What survives a restart through the history log: the last run and the last success of a job. */
export interface JobMemory {
  readonly lastRun: RunRecord | null;
  readonly lastSuccess: string | null;
}

/** Where the newest snapshot of a job's dest comes from (latest-snapshot.ts reads a snapshot dest). */
export type LatestSnapshotSource = (dest: RawPath) => { at: string; path: string } | null;
export const NO_SNAPSHOTS: LatestSnapshotSource = () => null;

export interface LiveCounts {
  readonly pending: number;
  readonly failing: boolean;
  /** A folder the watcher could not watch: changes in it go unseen. */
  readonly watchFailure?: { readonly path: string; readonly code: string; readonly message: string } | undefined;
}

interface RunInFlight {
  readonly startedAt: number;
  /** Grows while a full sync lists the tree a batch at a time. */
  totalBytes: number;
  bytes: number;
}

export class JobModel {
  private phase: 'starting' | 'watching' | 'source-missing' = 'starting';
  private run: RunInFlight | undefined;
  private lastRun: RunRecord | null;
  private lastSuccess: string | null;
  private nextRetry: { at: string; reason: string } | null = null;
  private readonly totals = { runs: 0, filesCopied: 0, bytesCopied: 0, failures: 0, durationMs: 0 };
  paused: boolean;

  constructor(
    readonly job: ControlJob,
    memory: JobMemory,
    paused: boolean,
    private readonly since: number,
  ) {
    this.lastRun = memory.lastRun;
    this.lastSuccess = memory.lastSuccess;
    this.paused = paused;
  }

  runStarted(run: RunStart, now: number): void {
    this.run = { startedAt: now, totalBytes: run.bytesToCopy, bytes: 0 };
  }

  /** More of the run planned (a streamed full sync's next batch). */
  runPlanned(bytesToCopy: number): void {
    if (this.run !== undefined) this.run.totalBytes += bytesToCopy;
  }

  runProgress(bytes: number): void {
    if (this.run !== undefined) this.run.bytes += bytes;
  }

  runFinished(end: RunEnd, now: number): RunRecord {
    this.run = undefined;
    const record: RunRecord = {
      at: new Date(now - end.durationMs).toISOString(),
      durationMs: end.durationMs,
      full: end.full,
      filesCopied: end.copied,
      bytesCopied: end.bytes,
      failed: end.failures.map(({ path, code, message }) => ({ path, code, message })),
    };
    this.lastRun = record;
    this.totals.runs++;
    this.totals.filesCopied += record.filesCopied;
    this.totals.bytesCopied += record.bytesCopied;
    this.totals.failures += record.failed.length;
    this.totals.durationMs += record.durationMs;
    if (record.failed.length === 0) this.lastSuccess = new Date(now).toISOString();
    return record;
  }

  event(event: WatchEvent, now: number): void {
    switch (event.type) {
      case 'watching':
      case 'source-back':
        this.phase = 'watching';
        return;
      case 'source-missing':
        this.phase = 'source-missing';
        this.run = undefined;
        this.nextRetry = null;
        return;
      case 'failed':
        // A run that threw (its dest could not be opened, say) ends here, without a runFinished.
        this.run = undefined;
        if (event.retryInMs !== undefined) {
          this.nextRetry = { at: new Date(now + event.retryInMs).toISOString(), reason: `${event.path}: ${event.message} (${event.code})` };
        }
        return;
      default:
        return;
    }
  }

  memory(): JobMemory {
    return { lastRun: this.lastRun, lastSuccess: this.lastSuccess };
  }

  /** Ready for systemd: the job watches (or waits, paused or for its source); not still in its first sync. */
  get ready(): boolean {
    return this.phase !== 'starting' || this.paused;
  }

  /** `live`: what only the runner knows (paths waiting, failures not yet retried successfully). */
  status(now: number, live: LiveCounts, latestSnapshot: JobStatus['latestSnapshot']): JobStatus {
    const { pending, failing } = live;
    // A vanished source is not watched at all: that is its own state.
    const watchFailure = this.phase === 'source-missing' ? undefined : live.watchFailure;
    if (!failing) this.nextRetry = null;
    const state = watchFailure === undefined || this.paused ? this.stateName() : 'watcher-died';
    // A job that watches with nothing left to do is current now, however long ago its last copy was.
    const current = state === 'watching' && pending === 0 && !failing;
    const successAt = this.lastSuccess === null ? this.since : Date.parse(this.lastSuccess);
    const stale = !current && now - successAt > this.job.maxAgeMs;
    const problems: string[] = [];
    if (watchFailure !== undefined) {
      problems.push(`watcher died: cannot watch ${watchFailure.path}: ${watchFailure.message} (${watchFailure.code}); changes there go unseen until \`backup ctl run\` watches again`);
    }
    if (failing) problems.push(`failing${this.nextRetry ? `: ${this.nextRetry.reason}, retry at ${this.nextRetry.at}` : ''}`);
    if (stale) problems.push(`stale: ${this.lastSuccess === null ? 'no success since the daemon started' : `last success ${this.lastSuccess}`} (maxAge ${formatAge(this.job.maxAgeMs)})`);
    return {
      name: this.job.name ?? null,
      source: this.job.source,
      dest: this.job.dest,
      state,
      paused: this.paused,
      lastRun: this.lastRun,
      lastSuccess: this.lastSuccess,
      pending,
      inFlight: this.inFlight(now),
      nextRetry: this.nextRetry,
      latestSnapshot,
      watchFailure: watchFailure === undefined ? null : { path: watchFailure.path, code: watchFailure.code, message: watchFailure.message },
      maxAgeMs: this.job.maxAgeMs,
      totals: { ...this.totals },
      healthy: problems.length === 0,
      problems,
    };
  }

  private stateName(): JobStateName {
    if (this.paused) return 'paused';
    if (this.phase === 'source-missing') return 'source-missing';
    if (this.run !== undefined || this.phase === 'starting') return 'syncing';
    if (this.nextRetry !== null) return 'retrying';
    return 'watching';
  }

  private inFlight(now: number): InFlight | null {
    if (this.run === undefined) return null;
    const seconds = Math.max((now - this.run.startedAt) / 1000, 0.001);
    const rate = this.run.bytes / seconds;
    const left = Math.max(this.run.totalBytes - this.run.bytes, 0);
    return { bytes: this.run.bytes, totalBytes: this.run.totalBytes, rate: Math.round(rate), etaMs: rate > 0 ? Math.round((left / rate) * 1000) : null };
  }
}

export function formatAge(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
