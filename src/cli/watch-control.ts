/**
 * The watch daemon's control plane, wired from the config and argv: where the socket and the state
 * live, what each job is called and when it is stale.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDuration } from '../common/duration.js';
import { displayPath } from '../common/raw-path.js';
import { DownloadQueue } from '../control/downloads.js';
import { snapshotsInDest } from '../control/latest-snapshot.js';
import { startPageServer } from '../control/page-server.js';
import { ControlPlane, type PlaneJob } from '../control/plane.js';
import { defaultControlSocket, ensurePrivateFolder, stateFolder } from '../control/paths.js';
import type { ReloadAnswer } from '../control/routes.js';
import type { Config, JobConfig } from '../config/schema.js';
import type { WatchJob } from '../watch/job-runner.js';

/** A job to watch, with the config entry it came from (none for `backup watch <source>`). */
export interface ConfiguredJob {
  readonly watch: WatchJob;
  readonly config?: JobConfig;
}

const DEFAULT_MAX_AGE_MS = 24 * 3_600_000;

export function planeJob({ watch, config }: ConfiguredJob): PlaneJob {
  return {
    raw: watch.source,
    rawDest: watch.dest,
    name: config?.name,
    source: displayPath(watch.source),
    dest: displayPath(watch.dest),
    maxAgeMs: maxAgeOf(watch, config),
  };
}

/** `maxAge` of the job; else twice its snapshot interval (one missed snapshot is not yet stale); else 24h. */
function maxAgeOf(watch: WatchJob, config: JobConfig | undefined): number {
  const configured = config?.maxAge === undefined ? undefined : parseDuration(config.maxAge);
  const everyMs = watch.snapshots?.everyMs;
  return configured ?? (everyMs === undefined ? DEFAULT_MAX_AGE_MS : 2 * everyMs);
}

/** The socket a client or daemon uses: --control, else "control" in the config, else the default. */
export function controlSocketPath(optionPath: string | undefined, config: Pick<Config, 'control'> | undefined): { path: string; isDefault: boolean } {
  const chosen = optionPath ?? config?.control;
  return chosen === undefined ? { path: defaultControlSocket(), isDefault: true } : { path: chosen, isDefault: false };
}

export interface ControlOptions {
  readonly control?: string;
  readonly http?: string;
}

export async function startControlPlane(
  jobs: readonly ConfiguredJob[],
  config: Config,
  options: ControlOptions,
  reload: () => Promise<ReloadAnswer>,
): Promise<{ plane: ControlPlane; downloads: DownloadQueue }> {
  const socket = controlSocketPath(options.control, config);
  const state = stateFolder();
  ensurePrivateFolder(state);
  const plane = await ControlPlane.start({
    socketPath: socket.path,
    privateSocketFolder: socket.isDefault,
    stateFolder: state,
    jobs: jobs.map(planeJob),
    reload,
    snapshots: snapshotsInDest(),
  });
  const listen = options.http ?? config.http;
  if (listen !== undefined) {
    try {
      plane.attachPage(
        await startPageServer({ listen, allowRemote: config.httpAllowRemote ?? false, tokenFile: path.join(state, 'http-token'), api: plane, stream: plane.stream }),
      );
    } catch (err) {
      await plane.close();
      throw err;
    }
  }
  return { plane, downloads: new DownloadQueue({ folder: state, parallel: parallelDownloads(config), cliScript: CLI_SCRIPT, events: plane.downloadEvents() }) };
}

export function parallelDownloads(config: Config): number {
  return config.downloads?.parallel ?? DEFAULT_PARALLEL_DOWNLOADS;
}

/**
 * A reload applies the jobs and downloads.parallel; the socket and the page stay where they listen: the
 * clients find the daemon through the config, and rebinding under them (or under the reload's own
 * connection) would lose it. Each changed address is said, with what still listens.
 */
export function restartNeeded(running: Config, reloaded: Config, options: ControlOptions): string[] {
  const notes: string[] = [];
  const socket = controlSocketPath(options.control, running).path;
  const nextSocket = controlSocketPath(options.control, reloaded).path;
  if (nextSocket !== socket) notes.push(`"control" changed to ${nextSocket}: takes effect at the next restart; the daemon still listens on ${socket} (give clients --control ${socket} until then)`);
  const listen = options.http ?? running.http;
  const nextListen = options.http ?? reloaded.http;
  if (nextListen !== listen || (running.httpAllowRemote ?? false) !== (reloaded.httpAllowRemote ?? false)) {
    notes.push(`"http" changed to ${nextListen ?? 'none'}: takes effect at the next restart; the page stays ${listen === undefined ? 'off' : `on ${listen}`}`);
  }
  return notes;
}

const DEFAULT_PARALLEL_DOWNLOADS = 2;
/** Downloads run as `backup assemble` children of the daemon: this very CLI. */
const CLI_SCRIPT = fileURLToPath(new URL('./main.js', import.meta.url));
