/**
 * The control plane of a running daemon: the job models, the history, the event stream, pauses,
 * systemd notifications and the socket server, behind one ControlApi. The daemon feeds it through
 * `observe` (one observer per job runner); it steers the daemon through a ControlTarget.
 */
import path from 'node:path';
import { displayPath, type RawPath } from '../common/raw-path.js';
import type { JobObserver } from '../watch/daemon.js';
import type { WatchEvent } from '../watch/events.js';
import type { RunEnd, RunStart, WatchJob, WatchLoss } from '../watch/job-runner.js';
import type { DownloadEvents } from './downloads.js';
import { EventStream } from './event-stream.js';
import { HistoryLog } from './history.js';
import { apiHandler } from './http-api.js';
import { SystemdNotifier } from './notify.js';
import { PauseStore } from './pauses.js';
import { ControlError, type ControlApi, type DownloadRequest, type ReloadAnswer } from './routes.js';
import { listenOnSocket, type SocketServer } from './socket-server.js';
import { JobModel, NO_SNAPSHOTS, type LatestSnapshotSource } from './state.js';
import { jobLabel, jobMatches, type ControlJob, type DownloadStatus, type HistoryEntry, type JobSelector, type StatusReport } from './types.js';

/** What the plane steers: a job's runner while it runs. */
export interface JobControls {
  pause(): void;
  resume(): void;
  runNow(): void;
  readonly waiting: number;
  readonly failing: boolean;
  readonly watchFailure: WatchLoss | undefined;
}

export interface ControlTarget {
  runnerFor(source: RawPath): JobControls | undefined;
}

/** Background downloads (`assemble --background`), when the daemon runs them. */
export interface DownloadService {
  list(): DownloadStatus[];
  stop(): Promise<void>;
  submit(request: DownloadRequest): Promise<DownloadStatus>;
  cancel(id: string): DownloadStatus;
}

export interface PlaneJob extends ControlJob {
  readonly raw: RawPath;
  readonly rawDest: RawPath;
}

export interface PlaneOptions {
  readonly socketPath: string;
  /** The socket's folder is the default one, ours alone: it is made 0700. */
  readonly privateSocketFolder: boolean;
  readonly stateFolder: string;
  readonly jobs: readonly PlaneJob[];
  /** Re-reads the config and replaces the jobs; throws UsageError (old config kept) on a bad one. */
  readonly reload: () => Promise<ReloadAnswer>;
  readonly snapshots?: LatestSnapshotSource;
  readonly env?: NodeJS.ProcessEnv;
}

interface Entry {
  readonly job: PlaneJob;
  readonly model: JobModel;
}

const PROGRESS_EVENT_MS = 250;

export class ControlPlane implements ControlApi {
  readonly stream = new EventStream();
  readonly historyLog: HistoryLog;
  private readonly pauses: PauseStore;
  private readonly notifier: SystemdNotifier;
  private readonly startedAt = Date.now();
  private entries: Entry[] = [];
  private target: ControlTarget | undefined;
  private downloads: DownloadService | undefined;
  private socket: SocketServer | undefined;
  private readySent = false;
  private page: { readonly loginUrl: string; close(): Promise<void> } | undefined;

  private constructor(private readonly options: PlaneOptions) {
    this.historyLog = new HistoryLog(options.stateFolder);
    this.pauses = new PauseStore(options.stateFolder);
    this.notifier = new SystemdNotifier(options.env);
    this.setJobs(options.jobs);
  }

  /** Listens on the control socket; throws AlreadyRunningError when another daemon answers there. */
  static async start(options: PlaneOptions): Promise<ControlPlane> {
    const plane = new ControlPlane(options);
    plane.socket = await listenOnSocket(options.socketPath, apiHandler(plane, plane.stream), options.privateSocketFolder);
    return plane;
  }

  attach(target: ControlTarget, downloads?: DownloadService): void {
    this.target = target;
    this.downloads = downloads;
    // Jobs that start paused send no event: they may already make the daemon ready.
    this.updateStatusLine();
  }

  /** The daemon begins to stop (a signal): systemd hears it now, not once the copies in flight are done. */
  stopping(): void {
    void this.notifier.stopping();
    void this.downloads?.stop();
  }

  /** The HTTP page server, closed with the plane. */
  attachPage(page: { readonly loginUrl: string; close(): Promise<void> }): void {
    this.page = page;
  }

  pageUrl(): { url: string } {
    if (this.page === undefined) throw new ControlError(404, 'ENOPAGE', 'the daemon serves no page: start it with --http 127.0.0.1:8470 (or "http" in the config)');
    return { url: this.page.loginUrl };
  }

  /** The jobs of a (re)loaded config; a job that stays keeps its last run and success. */
  setJobs(jobs: readonly PlaneJob[]): void {
    const memories = this.historyLog.memories();
    const previous = new Map(this.entries.map((e) => [e.job.source, e.model]));
    this.entries = jobs.map((job) => {
      const memory = previous.get(job.source)?.memory() ?? memories.get(job.source);
      const model = new JobModel(job, memory ?? { lastRun: null, lastSuccess: null }, this.pauses.has(job.source), this.startedAt);
      return { job, model };
    });
  }

  /** The daemon's hook for each runner it starts. */
  readonly observe = (watchJob: WatchJob): JobObserver => {
    const entry = this.entries.find((e) => e.job.raw === watchJob.source);
    if (entry === undefined) throw new Error(`control plane: no job for ${displayPath(watchJob.source)}`);
    const { model, job } = entry;
    const label = jobLabel(job);
    let lastProgress = 0;
    return {
      startPaused: model.paused,
      runStarted: (run: RunStart) => {
        model.runStarted(run, Date.now());
        this.stream.publish('run-started', { job: label, full: run.full, files: run.files, bytesToCopy: run.bytesToCopy });
        this.updateStatusLine();
      },
      runPlanned: (_files: number, bytesToCopy: number) => model.runPlanned(bytesToCopy),
      runProgress: (bytes: number) => {
        model.runProgress(bytes);
        const now = Date.now();
        if (now - lastProgress < PROGRESS_EVENT_MS) return;
        lastProgress = now;
        this.stream.publish('progress', { job: label, inFlight: this.statusOf(entry).inFlight });
      },
      runFinished: (end: RunEnd) => {
        const record = model.runFinished(end, Date.now());
        this.historyLog.append({ type: 'run', job: job.source, ...record });
        this.stream.publish('run-finished', { job: label, ...record });
        this.updateStatusLine();
      },
      event: (event: WatchEvent) => {
        model.event(event, Date.now());
        if (event.type === 'snapshot') return this.snapshotTaken(job, event);
        const { type, ...fields } = event;
        this.stream.publish(type, { job: label, ...fields });
        if (event.type === 'failed' && event.retryInMs !== undefined) {
          this.stream.publish('retry-scheduled', { job: label, path: event.path, inMs: event.retryInMs });
        }
        this.updateStatusLine();
      },
    };
  };

  /** A snapshot is a thing the daemon did, like a run: on the stream and in the history. */
  private snapshotTaken(job: PlaneJob, event: Extract<WatchEvent, { type: 'snapshot' }>): void {
    const snapshotPath = path.join(event.path, 'snapshots', event.name);
    const { files, bytesNew } = event;
    this.historyLog.append({ type: 'snapshot', job: job.source, at: new Date().toISOString(), path: snapshotPath, files, bytesNew });
    this.stream.publish('snapshot-taken', { job: jobLabel(job), path: snapshotPath, name: event.name, files, bytesNew, linked: event.linked, copied: event.copied });
  }

  info(): { pid: number; startedAt: string } {
    return { pid: process.pid, startedAt: new Date(this.startedAt).toISOString() };
  }

  status(): StatusReport {
    return {
      pid: process.pid,
      startedAt: new Date(this.startedAt).toISOString(),
      jobs: this.entries.map((entry) => this.statusOf(entry)),
      downloads: this.downloads?.list() ?? [],
    };
  }

  /** A full sync now; paused jobs are refused when named, and left out when all jobs are meant. */
  run(wanted: JobSelector | undefined): string[] {
    return this.act(wanted, (entry, runner) => {
      if (!entry.model.paused) runner?.runNow();
      else if (wanted !== undefined) throw new ControlError(409, 'EPAUSED', `job ${jobLabel(entry.job)} is paused: resume it first`);
    });
  }

  pause(wanted: JobSelector | undefined): string[] {
    return this.act(wanted, (entry, runner) => this.setPaused(entry, runner, true));
  }

  resume(wanted: JobSelector | undefined): string[] {
    return this.act(wanted, (entry, runner) => this.setPaused(entry, runner, false));
  }

  private setPaused(entry: Entry, runner: JobControls | undefined, paused: boolean): void {
    this.pauses.set(entry.job.source, paused);
    entry.model.paused = paused;
    if (paused) runner?.pause();
    else runner?.resume();
    this.stream.publish(paused ? 'paused' : 'resumed', { job: jobLabel(entry.job) });
  }

  async reload(): Promise<ReloadAnswer> {
    return this.options.reload();
  }

  history(n: number | undefined, wanted: JobSelector | undefined): HistoryEntry[] {
    if (wanted === undefined) return this.historyLog.read(n);
    const entry = this.entries.find((e) => jobMatches(e.job, wanted));
    return this.historyLog.read(n, entry?.job.source ?? wanted.path ?? wanted.job);
  }

  submitDownload(request: DownloadRequest): Promise<DownloadStatus> {
    return this.downloadService().submit(request);
  }

  cancelDownload(id: string): DownloadStatus {
    return this.downloadService().cancel(id);
  }

  /** Every job is watching (or paused, or waiting for its source): tell systemd once. */
  private updateStatusLine(): void {
    const line = summaryLine(this.status());
    if (!this.readySent && this.entries.every((e) => e.model.ready)) {
      this.readySent = true;
      void this.notifier.ready(line);
      return;
    }
    if (this.readySent) void this.notifier.status(line);
  }

  /** What the download queue reports: progress to the stream, the end to the stream and the history. */
  downloadEvents(): DownloadEvents {
    return {
      progress: (download) => this.stream.publish('download-progress', { ...download }),
      finished: (download) => {
        const { id, output, state, bytes, error } = download;
        this.historyLog.append({ type: 'download', at: new Date().toISOString(), id, output, state, bytes, error });
        this.stream.publish('download-finished', { ...download });
        this.updateStatusLine();
      },
    };
  }

  async close(): Promise<void> {
    await this.notifier.stopping();
    await this.downloads?.stop();
    await this.page?.close();
    this.stream.closeAll();
    await this.socket?.close();
  }

  private statusOf(entry: Entry): ReturnType<JobModel['status']> {
    const runner = this.target?.runnerFor(entry.job.raw);
    const live = { pending: runner?.waiting ?? 0, failing: runner?.failing ?? false, watchFailure: runner?.watchFailure };
    return entry.model.status(Date.now(), live, (this.options.snapshots ?? NO_SNAPSHOTS)(entry.job.rawDest));
  }

  private act(wanted: JobSelector | undefined, action: (entry: Entry, runner: JobControls | undefined) => void): string[] {
    const chosen = wanted === undefined ? this.entries : this.entries.filter((e) => jobMatches(e.job, wanted));
    if (chosen.length === 0) {
      const known = this.entries.map((e) => jobLabel(e.job)).join(', ') || 'none';
      throw new ControlError(404, 'ENOJOB', `no job named ${wanted?.job ?? '(any)'}; jobs: ${known}`);
    }
    for (const entry of chosen) action(entry, this.target?.runnerFor(entry.job.raw));
    return chosen.map((e) => jobLabel(e.job));
  }

  private downloadService(): DownloadService {
    if (this.downloads === undefined) throw new ControlError(503, 'ENODOWNLOADS', 'this daemon does not run downloads');
    return this.downloads;
  }
}

/** systemd's STATUS= line: "2 jobs: 1 watching, 1 retrying; 1 download running". */
export function summaryLine(report: StatusReport): string {
  const counts = new Map<string, number>();
  for (const job of report.jobs) counts.set(job.state, (counts.get(job.state) ?? 0) + 1);
  const states = [...counts].map(([state, n]) => `${n} ${state}`).join(', ');
  const running = report.downloads.filter((d) => d.state === 'running').length;
  const downloads = running > 0 ? `; ${running} download${running === 1 ? '' : 's'} running` : '';
  return `${report.jobs.length} job${report.jobs.length === 1 ? '' : 's'}: ${states || 'none'}${downloads}`;
}
