/**
 * The watch daemon: one JobRunner per job, all copying through one shared pool. Knows nothing of argv,
 * signals or stdout; the CLI calls `reload` and `stop` and reads `done`.
 */
import type { ErrorData } from '../common/errors.js';
import type { RawPath } from '../common/raw-path.js';
import { CopyPool } from '../copy/pool.js';
import type { WatchEvent, WatchLog } from './events.js';
import { JobRunner, type RunObserver, type WatchJob } from './job-runner.js';

/** The control plane's view of one job: its runs and its log events. */
export interface JobObserver extends RunObserver {
  event(event: WatchEvent): void;
}

export interface DaemonOptions {
  readonly threads: number;
  readonly log: WatchLog;
  readonly observe?: (job: WatchJob) => JobObserver;
}

export class WatchDaemon {
  private readonly pool: CopyPool;
  private runners: JobRunner[];
  /** Reloads and the stop run one after the other, never interleaved. */
  private queue: Promise<void> = Promise.resolve();
  private stopping = false;
  private resolveDone!: (fatal: ErrorData | undefined) => void;
  /** Resolves once stopped: with the error that forced the stop, if one did. */
  readonly done = new Promise<ErrorData | undefined>((resolve) => (this.resolveDone = resolve));

  constructor(
    jobs: readonly WatchJob[],
    private readonly options: DaemonOptions,
  ) {
    this.pool = new CopyPool(options.threads);
    this.runners = this.startRunners(jobs);
  }

  /** Replaces the jobs (config reloaded): each old one finishes its run, each new one starts with a full sync. */
  reload(jobs: readonly WatchJob[]): Promise<void> {
    return this.serialize(async () => {
      if (this.stopping) return;
      const stopped = await this.stopRunners();
      const settling = new Map(stopped.map((runner) => [runner.job.source, runner.settling]));
      this.runners = this.startRunners(jobs, settling);
    });
  }

  /** Stops watching, lets the copies in flight finish, starts no new one. */
  stop(fatal?: ErrorData): Promise<void> {
    this.stopping = true;
    return this.serialize(async () => {
      await this.stopRunners();
      await this.pool.destroy();
      this.resolveDone(fatal);
    });
  }

  /** The runner of the job whose source is `source`, while it runs. */
  runnerFor(source: string): JobRunner | undefined {
    return this.runners.find((runner) => runner.job.source === source);
  }

  /** `settling`: per source, the notices its previous runner had not settled yet (a reload). */
  private startRunners(jobs: readonly WatchJob[], settling = new Map<RawPath, readonly RawPath[]>()): JobRunner[] {
    const context = { pool: this.pool, log: this.options.log, onFatal: (error: ErrorData) => void this.stop(error) };
    return jobs.map((job) => {
      const observer = this.options.observe?.(job);
      const inherited = settling.get(job.source);
      if (observer === undefined) return new JobRunner(job, context, inherited);
      const log: WatchLog = (event) => {
        context.log(event);
        observer.event(event);
      };
      return new JobRunner(job, { ...context, log, observer }, inherited);
    });
  }

  private async stopRunners(): Promise<JobRunner[]> {
    const runners = this.runners;
    this.runners = [];
    await Promise.all(runners.map((runner) => runner.stop()));
    return runners;
  }

  private serialize(step: () => Promise<void>): Promise<void> {
    this.queue = this.queue.then(step);
    return this.queue;
  }
}
