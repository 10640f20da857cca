/**
 * One watched job: initial sync, then the change loop. Work for the job is done one run at a time (a run
 * is a full sync or the re-plan of a settled batch), so two runs never write the same dest at once; what
 * settles meanwhile waits in `pending` and goes out as one batch.
 */
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { BackupJob, PlannedBackup } from '../backup/backup.js';
import type { Destination } from '../backup/destination.js';
import type { StreamExecution } from '../backup/stream.js';
import { errorData, type ErrorData } from '../common/errors.js';
import { baseName, displayPath, fsPath, joinRaw, type RawPath } from '../common/raw-path.js';
import { StopFlag } from '../copy/execute.js';
import type { CopyPool } from '../copy/pool.js';
import { IGNORE_FILE, IgnoreRules } from '../plan/ignore.js';
import type { Plan } from '../plan/types.js';
import { deferCopies } from './defer.js';
import type { WatchLog } from './events.js';
import { logBatch, logExecution, outcomeOf, type Outcome } from './report.js';
import { RetrySchedule } from './retry.js';
import { startWatcher, type Watcher } from './watcher.js';
import type { SnapshotOutcome } from '../snapshots/snapshot-run.js';

export interface WatchJob extends BackupJob {
  readonly settleMs: number;
  /** Where the job's dest is listed from and written to (picked at the edge: cli/destinations.ts). */
  readonly destination: Destination;
  /** A snapshot dest: a snapshot every interval in which something changed. */
  readonly snapshots?: SnapshotSchedule;
}

/** The snapshots of a watched snapshot dest (snapshots/watch-snapshots.ts), taken between runs. */
export interface SnapshotSchedule {
  readonly everyMs: number;
  /** The dest was opened by a run: before that there is nothing to snapshot. */
  readonly isOpen: boolean;
  /** Something changed since the last snapshot. */
  readonly due: boolean;
  /** The newest snapshot's name. */
  readonly latest: string | undefined;
  take(failed: boolean): SnapshotOutcome;
}

export interface RunnerContext {
  readonly pool: CopyPool;
  readonly log: WatchLog;
  /** The watch cannot go on (inotify limit): the daemon stops and exits non-zero. */
  readonly onFatal: (error: ErrorData) => void;
  readonly observer?: RunObserver;
}

/** A folder that could not be watched, and why. */
export interface WatchLoss extends ErrorData {
  readonly path: string;
}

/** A run about to copy: a full sync or a settled batch. A streamed full sync starts at 0 and grows (runPlanned). */
export interface RunStart {
  readonly full: boolean;
  readonly files: number;
  readonly bytesToCopy: number;
}

export interface RunEnd extends Outcome {
  readonly full: boolean;
  readonly durationMs: number;
}

/** What the control plane (src/control/) learns of each run, beyond the log events. */
export interface RunObserver {
  /** The job starts paused (a pause that outlived a restart): nothing runs until `resume`. */
  readonly startPaused: boolean;
  runStarted(run: RunStart): void;
  /** The next batch of a streamed full sync is planned: the run's totals grow by this much. */
  runPlanned(files: number, bytesToCopy: number): void;
  runProgress(bytes: number, files: number): void;
  runFinished(run: RunEnd): void;
}

/** How often the source root is checked for having vanished or been replaced: inotify cannot tell. */
const ROOT_CHECK_MS = 1000;
const FULL_SYNC: RawPath = '';

export class JobRunner {
  private readonly pending = new Set<RawPath>();
  private readonly retries = new RetrySchedule((rels) => this.retry(rels));
  private ignore: IgnoreRules;
  private watcher: Watcher | undefined;
  private rootId: string | undefined;
  private rootCheck: NodeJS.Timeout | undefined;
  private needsFullSync = true;
  private stopping = false;
  private paused: boolean;
  private wake: (() => void) | undefined;
  /** The flag of the run in progress: set on stop so that no new copy starts. */
  private runStop: StopFlag | undefined;
  /** A folder the watch could not watch (no permission): changes in it go unseen until a full sync watches again. */
  private lostFolder: WatchLoss | undefined;
  private snapshotTimer: NodeJS.Timeout | undefined;
  private snapshotDue = false;
  /**
   * Notices that were still settling when the last watch closed (a re-sync, a reload): the next watch
   * takes them over, so a file being written meanwhile is left to its notice, not copied half-written.
   */
  private settlingAtClose: RawPath[];
  readonly finished: Promise<void>;

  constructor(
    readonly job: WatchJob,
    private readonly context: RunnerContext,
    settling: readonly RawPath[] = [],
  ) {
    this.settlingAtClose = [...settling];
    this.ignore = new IgnoreRules(job.exclude);
    this.paused = context.observer?.startPaused ?? false;
    this.finished = this.loop();
  }

  /** Changes keep being collected while paused; the run in progress finishes. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.wake?.();
  }

  /** A full sync as soon as the run in progress (if any) is done. */
  runNow(): void {
    this.needsFullSync = true;
    this.wake?.();
  }

  /** Notices still settling when the runner stopped: a runner for the same source after a reload takes them over. */
  get settling(): readonly RawPath[] {
    return this.settlingAtClose;
  }

  /** Settled paths waiting for the next run. */
  get waiting(): number {
    return this.pending.size;
  }

  /** Some path failed and waits for its retry. */
  get failing(): boolean {
    return this.retries.outstanding;
  }

  /** The watch no longer sees the whole tree (see `lostFolder`). */
  get watchFailure(): WatchLoss | undefined {
    return this.lostFolder;
  }

  /** Stops watching; the run in progress finishes its copies in flight and starts no new one. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.runStop?.set();
    this.wake?.();
    await this.finished;
  }

  private enqueue(rels: readonly RawPath[]): void {
    for (const rel of rels) {
      // A changed .backupignore changes what the whole tree means: re-sync (and re-watch) everything.
      if (baseName(rel) === IGNORE_FILE) this.needsFullSync = true;
      this.pending.add(rel);
    }
    this.wake?.();
  }

  private async loop(): Promise<void> {
    try {
      while (!this.stopping) {
        if (this.snapshotDue && !this.paused) {
          this.snapshotDue = false;
          this.takeSnapshot();
          continue;
        }
        if (this.paused || (!this.needsFullSync && this.pending.size === 0)) {
          await this.sleep();
          continue;
        }
        if (rootIdentity(this.job.source) === undefined) {
          await this.waitForSource();
          continue;
        }
        if (this.needsFullSync) {
          await this.attempt([FULL_SYNC], () => this.fullSync());
        } else {
          // Notices that arrived while the daemon was busy are read first: a stalled event loop runs the
          // settle timer before it reads them, and a file written again since must not be copied yet.
          await new Promise((resolve) => setImmediate(resolve));
          const { folders, others } = splitFolders(this.job.source, this.takeSettled());
          if (others.length > 0) await this.attempt(others, () => this.syncPaths(others));
          if (folders.length > 0 && !this.needsFullSync) await this.attempt(folders, () => this.rescan(folders));
        }
      }
    } finally {
      this.retries.clear();
      await this.stopWatching();
      clearInterval(this.snapshotTimer);
      this.job.destination.close();
    }
  }

  /** (Re)starts the watch, then syncs the whole tree, so that nothing changed meanwhile is missed. */
  private async fullSync(): Promise<void> {
    const started = performance.now();
    this.needsFullSync = false;
    this.pending.clear();
    await this.stopWatching();
    this.ignore = new IgnoreRules(this.job.exclude);
    await this.startWatching();
    if (this.stopping) return;
    for (const rel of this.settlingAtClose) this.watcher?.notice(rel);
    this.settlingAtClose = [];
    const dest = displayPath(this.job.dest);
    this.context.log({ type: 'watching', path: displayPath(this.job.source), dest, durationMs: Math.round(performance.now() - started) });
    this.startSnapshotTimer();
    const outcome = await this.syncTree();
    if (outcome === undefined || this.stopping) return;
    this.context.log({
      type: 'sync-finished',
      path: displayPath(this.job.source),
      files: outcome.files,
      copied: outcome.copied,
      failed: outcome.failures.length,
      bytes: outcome.bytes,
      durationMs: Math.round(performance.now() - started),
    });
  }

  /**
   * A full sync, the dest's way (a plain folder: listed, planned and copied a batch of folders at a time,
   * in bounded memory). Every folder is watched by now: a file still being written is settling, whatever
   * its mtime, and is left to its notice.
   */
  private async syncTree(): Promise<(Outcome & { files: number }) | undefined> {
    let files = 0;
    const dest = { source: this.job.source, dest: this.job.destination.root };
    const outcome = await this.tracked([FULL_SYNC], { full: true, files: 0, bytesToCopy: 0 }, async (execution, started) => {
      const streamed = await this.job.destination.sync(execution, {
        planned: (plan) => {
          const kept = this.deferUnsettledCopies(plan, { recentlyModified: false });
          this.context.observer?.runPlanned(kept.filesTotal, kept.bytesToCopy);
          return kept;
        },
        executed: (plan, report) => logBatch(dest, plan, report, { durationMs: Math.round(performance.now() - started), log: this.context.log, rescan: true }),
      });
      if (!streamed.sourceFound) return undefined;
      files = streamed.plan.filesTotal;
      this.ignore = streamed.ignore;
      return outcomeOf(streamed.scanFailures, streamed.plan, streamed.report);
    });
    return outcome && { ...outcome, files };
  }

  /** A run that could not even be planned or started (dest cannot be created): log, try again later. */
  private async attempt(rels: readonly RawPath[], run: () => Promise<unknown>): Promise<void> {
    try {
      await run();
    } catch (err) {
      const retryInMs = this.retries.failed(rels);
      this.context.log({ type: 'failed', path: displayPath(this.job.source), ...errorData(err), retryInMs });
    }
  }

  /** A full sync whose watch did not even start is retried as a whole; anything else is re-planned. */
  private retry(rels: readonly RawPath[]): void {
    if (rels.includes(FULL_SYNC) && this.watcher === undefined) {
      this.needsFullSync = true;
      this.wake?.();
    } else {
      this.enqueue(rels);
    }
  }

  /**
   * The settled paths, less those noticed again since they settled: such a file is being written again,
   * and its next settled notice brings it back.
   */
  private takeSettled(): RawPath[] {
    const rels = [...this.pending].filter((rel) => this.watcher?.isSettling(rel) !== true);
    this.pending.clear();
    return rels;
  }

  /** Settled changes of files, symlinks and vanished paths: a log line for each copy. */
  private async syncPaths(rels: readonly RawPath[]): Promise<void> {
    const scope = { only: rels, ignore: this.ignore };
    const planned = this.deferUnsettled(await this.job.destination.plan(scope), { recentlyModified: true });
    await this.execute(planned, rels, false);
  }

  /** New (or moved-in, or retried) folders, walked whole: one summary line for what was found in them. */
  private async rescan(folders: readonly RawPath[]): Promise<void> {
    const started = performance.now();
    const scope = { only: folders, ignore: this.ignore };
    const planned = this.deferUnsettled(await this.job.destination.plan(scope), { recentlyModified: true });
    const outcome = await this.execute(planned, folders, true);
    if (outcome === undefined) return;
    this.context.log({
      type: 'rescan-finished',
      path: displayPath(joinRaw(this.job.source, folders[0] ?? FULL_SYNC)),
      folders: folders.length,
      files: planned.plan.filesTotal,
      copied: outcome.copied,
      failed: outcome.failures.length,
      bytes: outcome.bytes,
      durationMs: Math.round(performance.now() - started),
    });
  }

  /**
   * A re-scan finds files that no settled notice brought. One that is settling is left to its own
   * notice, so it is copied once, when quiet, instead of half-written now and again later. With
   * `recentlyModified`, so is a file modified within the settle time: it may be in a new folder not
   * watched yet, or have a notice the daemon has not read yet. A modification time in the future is no
   * sign of a write in progress (it would defer the file forever).
   */
  private deferUnsettled<P extends PlannedBackup>(planned: P, when: { recentlyModified: boolean }): P {
    const plan = this.deferUnsettledCopies(planned.plan, when);
    return plan === planned.plan ? planned : { ...planned, plan };
  }

  /** `plan` without the copies deferUnsettled leaves to later (the same plan when there are none). */
  private deferUnsettledCopies(planned: Plan, { recentlyModified }: { recentlyModified: boolean }): Plan {
    const watcher = this.watcher;
    if (watcher === undefined) return planned;
    const now = Date.now();
    const modifiedLately = (mtimeMs: number): boolean => recentlyModified && now >= mtimeMs && now - mtimeMs < this.job.settleMs;
    const { plan, deferred } = deferCopies(planned, (copy) => watcher.isSettling(copy.rel) || modifiedLately(copy.source.mtimeMs));
    for (const rel of deferred) if (!watcher.isSettling(rel)) watcher.notice(rel);
    return plan;
  }

  /** Runs a plan; failures are logged and the paths tried again later. Undefined when not run. */
  private async execute(planned: PlannedBackup, rels: readonly RawPath[], rescan: boolean): Promise<Outcome | undefined> {
    // Planned while the source was vanishing: an empty source must never be mirrored (it would empty dest).
    if (!planned.sourceFound) {
      this.needsFullSync = true;
      return undefined;
    }
    const start = { full: rels.includes(FULL_SYNC), files: planned.plan.filesTotal, bytesToCopy: planned.plan.bytesToCopy };
    return this.tracked(rels, start, async (execution, started) => {
      const report = await this.job.destination.execute(planned, execution);
      return logExecution(planned, report, Math.round(performance.now() - started), this.context.log, rescan);
    });
  }

  /**
   * One run as the control plane and the retry schedule see it: `work` executes with this run's stop
   * flag and progress, and returns what it did (undefined: the source was gone, nothing ran). Failures
   * are logged and their paths tried again later.
   */
  private async tracked(
    rels: readonly RawPath[],
    start: RunStart,
    work: (execution: StreamExecution, started: number) => Promise<Outcome | undefined>,
  ): Promise<Outcome | undefined> {
    const started = performance.now();
    this.runStop = new StopFlag();
    if (this.stopping) this.runStop.set();
    const observer = this.context.observer;
    observer?.runStarted(start);
    const settings = { verify: false, keepOwner: this.job.keepOwner, xattrs: this.job.xattrs };
    const progress = observer && { advance: (bytes: number, files: number) => observer.runProgress(bytes, files) };
    const outcome = await work({ pool: this.context.pool, settings, progress, stop: this.runStop }, started).finally(() => (this.runStop = undefined));
    if (outcome === undefined) {
      this.needsFullSync = true;
      return undefined;
    }
    observer?.runFinished({ ...outcome, full: start.full, durationMs: Math.round(performance.now() - started) });
    if (outcome.failures.length === 0) {
      this.retries.succeeded(rels);
    } else if (!this.stopping) {
      const retryInMs = this.retries.failed(rels);
      for (const failure of outcome.failures) this.context.log({ type: 'failed', ...failure, retryInMs });
    } else {
      for (const failure of outcome.failures) this.context.log({ type: 'failed', ...failure });
    }
    return outcome;
  }

  /** Snapshot dests: from the first full sync on, every interval either a snapshot is due or that is said. */
  private startSnapshotTimer(): void {
    const snapshots = this.job.snapshots;
    if (snapshots === undefined || this.snapshotTimer !== undefined) return;
    this.snapshotTimer = setInterval(() => {
      if (!snapshots.isOpen) return;
      if (!snapshots.due) {
        // Said every interval, so that "nothing changed, so no snapshot" is visible in the log.
        this.context.log({ type: 'snapshot-skipped', path: displayPath(this.job.dest), latest: snapshots.latest });
        return;
      }
      this.snapshotDue = true;
      this.wake?.();
    }, snapshots.everyMs);
  }

  private takeSnapshot(): void {
    const snapshots = this.job.snapshots;
    if (snapshots?.isOpen !== true) return;
    const outcome = snapshots.take(this.retries.hasFailures);
    if (outcome.ok) {
      const { name, files, bytesNew, linked, copied } = outcome.taken;
      this.context.log({ type: 'snapshot', path: displayPath(this.job.dest), name, files, bytesNew, linked, copied });
    } else {
      this.context.log({ type: 'failed', ...outcome.failure });
    }
  }

  private async startWatching(): Promise<void> {
    this.rootId = rootIdentity(this.job.source);
    this.lostFolder = undefined;
    this.watcher = await startWatcher({
      root: this.job.source,
      settleMs: this.job.settleMs,
      isExcluded: (rel, isDir) => this.ignore.isExcluded(rel, isDir),
      onBatch: (rels) => this.enqueue(rels),
      onError: (error, folder) => {
        this.lostFolder ??= { path: folder ?? displayPath(this.job.source), ...error };
        this.context.log({ type: 'warning', path: displayPath(this.job.source), ...error });
      },
      onFatal: (error) => this.context.onFatal(error),
    });
    this.rootCheck = setInterval(() => {
      if (rootIdentity(this.job.source) === this.rootId) return;
      this.needsFullSync = true;
      this.wake?.();
    }, ROOT_CHECK_MS);
  }

  private async stopWatching(): Promise<void> {
    clearInterval(this.rootCheck);
    this.rootCheck = undefined;
    const watcher = this.watcher;
    this.watcher = undefined;
    if (watcher !== undefined) this.settlingAtClose = watcher.settling();
    await watcher?.close();
  }

  /** The source folder is gone: stop watching it, say so, and look for it every second until it is back. */
  private async waitForSource(): Promise<void> {
    await this.stopWatching();
    this.pending.clear();
    this.settlingAtClose = [];
    this.retries.clear();
    const path = displayPath(this.job.source);
    this.context.log({ type: 'source-missing', path });
    while (!this.stopping && rootIdentity(this.job.source) === undefined) await this.sleep(ROOT_CHECK_MS);
    if (this.stopping) return;
    this.context.log({ type: 'source-back', path });
    this.needsFullSync = true;
  }

  /** Until there is work (or a stop), or `ms` have passed. */
  private sleep(ms?: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      if (ms !== undefined) timer = setTimeout(done, ms);
      this.wake = done;
    });
  }
}

/** Folders are re-scanned whole; everything else (files, symlinks, vanished paths) is planned alone. */
function splitFolders(source: RawPath, rels: readonly RawPath[]): { folders: RawPath[]; others: RawPath[] } {
  const folders: RawPath[] = [];
  const others: RawPath[] = [];
  for (const rel of rels) (isFolder(joinRaw(source, rel)) ? folders : others).push(rel);
  return { folders, others };
}

function isFolder(file: RawPath): boolean {
  try {
    return fs.lstatSync(fsPath(file)).isDirectory();
  } catch {
    // Gone, or not reachable: the plan of the path says what that means (a delete, a failure).
    return false;
  }
}

/** Device and inode of the source folder, or undefined when it is not there (or not a folder). */
function rootIdentity(root: RawPath): string | undefined {
  try {
    const stat = fs.statSync(fsPath(root));
    return stat.isDirectory() ? `${stat.dev}:${stat.ino}` : undefined;
  } catch {
    return undefined;
  }
}
