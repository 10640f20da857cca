/**
 * `backup watch [source] [dest]`: resolve the job(s) as `backup` does, run the daemon until SIGINT or
 * SIGTERM, reload the config on SIGHUP. Bad input throws UsageError (exit 2) before anything is written.
 */
import { UsageError } from '../common/errors.js';
import { defaultThreads } from '../common/worker-pool.js';
import { defaultConfigPath, loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { WatchDaemon } from '../watch/daemon.js';
import type { WatchLog } from '../watch/events.js';
import type { WatchJob } from '../watch/job-runner.js';
import { toJob } from './backup-command.js';
import { say } from './output.js';
import { createWatchLog, type LogFormat, type LogLevel } from './watch-log.js';

export interface WatchCommandOptions {
  readonly delete: boolean;
  readonly exclude: readonly string[];
  readonly config?: string;
  readonly settle?: number;
  readonly logFormat?: LogFormat;
  readonly logLevel?: LogLevel;
  readonly jobs?: number;
}

const EXIT_FAILED = 1;

export async function watchCommand(sourceArg: string | undefined, destArg: string | undefined, options: WatchCommandOptions): Promise<number> {
  const config = await loadConfig(options.config);
  const jobs = watchJobs(sourceArg, destArg, config, options);
  const log = createWatchLog(options.logFormat ?? config.logFormat, options.logLevel);
  const daemon = new WatchDaemon(jobs, { threads: options.jobs ?? config.threads ?? defaultThreads(), log });

  const stop = (signal: NodeJS.Signals) => {
    log({ type: 'stopping', signal });
    void daemon.stop();
  };
  const reload = () => void reloadJobs(daemon, sourceArg, destArg, options, log);
  process.on('SIGINT', stop).on('SIGTERM', stop).on('SIGHUP', reload);
  const fatal = await daemon.done;
  process.off('SIGINT', stop).off('SIGTERM', stop).off('SIGHUP', reload);

  if (fatal !== undefined) {
    say(`error: ${fatal.message} (${fatal.code})`);
    return EXIT_FAILED;
  }
  log({ type: 'stopped' });
  return 0;
}

function watchJobs(sourceArg: string | undefined, destArg: string | undefined, config: Config, options: WatchCommandOptions): WatchJob[] {
  const settleMs = options.settle ?? config.settleMs;
  if (sourceArg !== undefined) return [{ ...toJob(sourceArg, destArg, config, options), settleMs }];
  if (config.jobs.length === 0) {
    const file = options.config ?? defaultConfigPath();
    throw new UsageError(
      `nothing to watch: give a source folder (backup watch ~/docs) or add a job to the "jobs" list of ${file}, ` +
        'e.g. "jobs": [{"source": "~/docs", "dest": "/mnt/backup/docs"}]',
    );
  }
  return config.jobs.map((job) => ({ ...toJob(job.source, job.dest, config, options), settleMs }));
}

/** A config that no longer loads or checks out is logged and the jobs keep running as they were. */
async function reloadJobs(
  daemon: WatchDaemon,
  sourceArg: string | undefined,
  destArg: string | undefined,
  options: WatchCommandOptions,
  log: WatchLog,
): Promise<void> {
  const file = options.config ?? defaultConfigPath();
  try {
    const jobs = watchJobs(sourceArg, destArg, await loadConfig(options.config), options);
    await daemon.reload(jobs);
    log({ type: 'reloaded', path: file, jobs: jobs.length });
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    log({ type: 'failed', path: file, code: err.code, message: `${err.message}; keeping the running jobs` });
  }
}
