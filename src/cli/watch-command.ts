/**
 * `backup watch [source] [dest]`: resolve the job(s) as `backup` does, run the daemon until SIGINT or
 * SIGTERM, reload the config on SIGHUP. Bad input throws UsageError (exit 2) before anything is written.
 */
import { errorData, UsageError } from '../common/errors.js';
import type { ControlPlane } from '../control/plane.js';
import { ControlError, type ReloadAnswer } from '../control/routes.js';
import { defaultThreads } from '../common/worker-pool.js';
import { defaultConfigPath, loadConfig } from '../config/load.js';
import type { Config, JobConfig } from '../config/schema.js';
import { WatchDaemon } from '../watch/daemon.js';
import type { WatchLog } from '../watch/events.js';
import type { WatchJob } from '../watch/job-runner.js';
import type { BackupJob } from '../backup/backup.js';
import { parseDuration } from '../common/duration.js';
import { displayPath } from '../common/raw-path.js';
import { isSnapshotDest } from '../snapshots/layout.js';
import { checkSnapshotDest } from '../snapshots/open-dest.js';
import { toJob } from './backup-command.js';
import { watchDestination } from './destinations.js';
import { isS3Url } from '../store/s3/keys.js';
import { resolveJobPaths } from './resolve-job.js';
import { say } from './output.js';
import type { DownloadQueue } from '../control/downloads.js';
import { parallelDownloads, planeJob, restartNeeded, startControlPlane, type ConfiguredJob } from './watch-control.js';
import { createWatchLog, type LogFormat, type LogLevel } from './watch-log.js';

export interface WatchCommandOptions {
  readonly delete: boolean;
  readonly exclude: readonly string[];
  readonly config?: string;
  readonly settle?: number;
  readonly logFormat?: LogFormat;
  readonly logLevel?: LogLevel;
  readonly jobs?: number;
  readonly control?: string;
  readonly http?: string;
  /** --snapshot-every (ms): the dest is a snapshot dest. */
  readonly snapshotEvery?: number;
  readonly keepVersions?: number;
}

const DEFAULT_KEEP_VERSIONS_MS = 30 * 86_400_000;

const EXIT_FAILED = 1;

export async function watchCommand(sourceArg: string | undefined, destArg: string | undefined, options: WatchCommandOptions): Promise<number> {
  const config = await loadConfig(options.config);
  const jobs = await watchJobs(sourceArg, destArg, config, options);
  const log = createWatchLog(options.logFormat ?? config.logFormat, options.logLevel);
  // The socket first: a second daemon must stop before it writes anything (exit 2, "already running").
  const reloadFromApi = (): Promise<ReloadAnswer> => reloadJobs({ daemon, plane, downloads, running: config }, sourceArg, destArg, options, log);
  const { plane, downloads } = await startControlPlane(jobs, config, options, reloadFromApi);
  const daemon = new WatchDaemon(
    jobs.map((job) => job.watch),
    { threads: options.jobs ?? config.threads ?? defaultThreads(), log, observe: plane.observe },
  );
  plane.attach(daemon, downloads);

  const stop = (signal: NodeJS.Signals) => {
    log({ type: 'stopping', signal });
    plane.stopping();
    void daemon.stop();
  };
  const reload = () => void reloadFromApi().catch(() => undefined);
  process.on('SIGINT', stop).on('SIGTERM', stop).on('SIGHUP', reload);
  const fatal = await daemon.done;
  process.off('SIGINT', stop).off('SIGTERM', stop).off('SIGHUP', reload);
  await plane.close();

  if (fatal !== undefined) {
    say(`error: ${fatal.message} (${fatal.code})`);
    return EXIT_FAILED;
  }
  log({ type: 'stopped' });
  return 0;
}

async function watchJobs(sourceArg: string | undefined, destArg: string | undefined, config: Config, options: WatchCommandOptions): Promise<ConfiguredJob[]> {
  const settleMs = options.settle ?? config.settleMs;
  if (sourceArg !== undefined) {
    return [{ watch: await watchJob(toJob(sourceArg, destArg, config, options), resolveJobPaths(sourceArg, destArg, config).job, settleMs, options) }];
  }
  if (config.jobs.length === 0) {
    const file = options.config ?? defaultConfigPath();
    throw new UsageError(
      `nothing to watch: give a source folder (backup watch ~/docs) or add a job to the "jobs" list of ${file}, ` +
        'e.g. "jobs": [{"source": "~/docs", "dest": "/mnt/backup/docs"}]',
    );
  }
  return Promise.all(config.jobs.map(async (job) => ({ watch: await watchJob(toJob(job.source, job.dest, config, options), job, settleMs, options), config: job })));
}

/**
 * The snapshot settings of a job: --snapshot-every or the config job's "snapshotEvery". The dest is
 * checked here, so that a dest that cannot be a snapshot dest (or a plain backup into one) exits 2.
 */
async function watchJob(job: BackupJob, configured: JobConfig | undefined, settleMs: number, options: WatchCommandOptions): Promise<WatchJob> {
  const everyMs = options.snapshotEvery ?? parseOptionalDuration(configured?.snapshotEvery);
  if (everyMs === undefined) {
    if (options.keepVersions !== undefined) throw new UsageError('--keep-versions needs --snapshot-every (versions are kept in a snapshot dest)');
    if ((job.snapshot === true && !isS3Url(job.dest)) || isSnapshotDest(job.dest)) {
      throw new UsageError(`dest ${displayPath(job.dest)} is a snapshot dest: watch it with --snapshot-every <duration> (or "snapshotEvery" on the config job)`, 'ESNAPSHOTDEST');
    }
    return { ...job, settleMs, ...(await watchDestination(job, undefined, options.jobs)) };
  }
  const keepVersionsMs = options.keepVersions ?? parseOptionalDuration(configured?.keepVersions) ?? DEFAULT_KEEP_VERSIONS_MS;
  const snapshotJob = { ...job, snapshot: true };
  const destination = await watchDestination(snapshotJob, { everyMs, keepVersionsMs }, options.jobs);
  checkSnapshotDest(job.dest);
  return { ...snapshotJob, settleMs, ...destination };
}

function parseOptionalDuration(text: string | undefined): number | undefined {
  return text === undefined ? undefined : parseDuration(text);
}

/**
 * A config that no longer loads or checks out is logged, answered (`backup ctl reload`) and the jobs keep
 * running as they were.
 */
async function reloadJobs(
  { daemon, plane, downloads, running }: { daemon: WatchDaemon; plane: ControlPlane; downloads: DownloadQueue; running: Config },
  sourceArg: string | undefined,
  destArg: string | undefined,
  options: WatchCommandOptions,
  log: WatchLog,
): Promise<ReloadAnswer> {
  const file = options.config ?? defaultConfigPath();
  let jobs: ConfiguredJob[];
  let config: Config;
  try {
    config = await loadConfig(options.config);
    jobs = await watchJobs(sourceArg, destArg, config, options);
  } catch (err) {
    const { code, message } = errorData(err);
    log({ type: 'failed', path: file, code, message: `${message}; keeping the running jobs` });
    throw new ControlError(422, code, `${message}; keeping the running jobs`);
  }
  plane.setJobs(jobs.map(planeJob));
  await daemon.reload(jobs.map((job) => job.watch));
  downloads.setParallel(parallelDownloads(config));
  const restart = restartNeeded(running, config, options);
  log({ type: 'reloaded', path: file, jobs: jobs.length });
  for (const note of restart) log({ type: 'warning', path: file, code: 'ERESTART', message: note });
  return { jobs: jobs.length, parallelDownloads: parallelDownloads(config), restartNeeded: restart };
}
