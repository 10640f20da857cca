/**
 * chokidar → settled, coalesced batches of changed paths (relative to the watched root, raw).
 *
 * chokidar's own `awaitWriteFinish` polls every file for 2 s by default; the Settler does the same job
 * with one timer and a configurable quiet time. Excluded paths and backupd's temporaries are never
 * watched (an excluded node_modules costs no inotify watch) and never reported.
 */
import fs from 'node:fs';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { isTempName } from '../common/atomic.js';
import { errorData, errnoCode, type ErrorData } from '../common/errors.js';
import { baseName, displayPath, parentRel, rawFromUser, type RawPath } from '../common/raw-path.js';
import { Settler } from './settle.js';

export interface WatchOptions {
  readonly root: RawPath;
  readonly settleMs: number;
  /** Consulted on every path: the rules may grow after the watch started (.backupignore files). */
  readonly isExcluded: (rel: RawPath, isDir: boolean) => boolean;
  readonly onBatch: (rels: RawPath[]) => void;
  /** A problem that does not stop the watch (a folder that could not be watched). */
  readonly onError: (error: ErrorData) => void;
  /** The watch cannot go on: out of inotify watches. */
  readonly onFatal: (error: ErrorData) => void;
}

export interface Watcher {
  close(): Promise<void>;
}

const WATCH_LIMIT_FILE = '/proc/sys/fs/inotify/max_user_watches';

/**
 * chokidar lists a new folder first and puts its inotify watch on it only after the listing, so files
 * created in between are never reported (seen here: 98 of 100 files of a folder created in a burst were
 * missed under load). A new folder is therefore noticed again after these delays, and re-planning it
 * copies whatever was missed; files already copied are current and cost nothing.
 */
const NEW_FOLDER_RECHECKS_MS = [1_000, 5_000];

/** Starts watching `root`; resolves once the initial scan is done and every folder is watched. */
export async function startWatcher(options: WatchOptions): Promise<Watcher> {
  const rootText = displayPath(options.root);
  const settler = new Settler(options.settleMs, options.onBatch);
  const rechecks = new Set<NodeJS.Timeout>();
  const recheckLater = (rel: RawPath): void => {
    for (const delay of NEW_FOLDER_RECHECKS_MS) {
      const timer = setTimeout(() => {
        rechecks.delete(timer);
        settler.notice(rel);
      }, delay);
      rechecks.add(timer);
    }
  };
  const relOf = (p: string): RawPath => rawFromUser(path.relative(rootText, p));
  const chokidar = watch(rootText, {
    ignoreInitial: true,
    followSymlinks: false,
    // chokidar's "atomic" mode hides names like `notes~` and `.x.swp`, which are files a backup must keep.
    atomic: false,
    ignored: (p: string, stats?: fs.Stats) => isIgnored(relOf(p), stats, options.isExcluded),
  });
  chokidar.on('all', (event: string, p: string) => {
    const rel = reportedRel(relOf(p));
    settler.notice(rel);
    if (event === 'addDir') recheckLater(rel);
  });
  chokidar.on('error', (err: unknown) => {
    if (errnoCode(err) === 'ENOSPC') options.onFatal(watchLimitError(rootText));
    else options.onError(errorData(err));
  });
  await new Promise<void>((resolve) => chokidar.once('ready', resolve));
  return {
    async close() {
      for (const timer of rechecks) clearTimeout(timer);
      settler.clear();
      await closeQuietly(chokidar);
    },
  };
}

/**
 * chokidar asks once without stats (to skip a path early) and again with them. Without stats a path is
 * only ignored when it would be excluded as a file and as a folder alike.
 */
function isIgnored(rel: RawPath, stats: fs.Stats | undefined, isExcluded: WatchOptions['isExcluded']): boolean {
  if (rel === '') return false;
  if (isTempName(baseName(rel))) return true;
  if (stats === undefined) return isExcluded(rel, false) && isExcluded(rel, true);
  return isExcluded(rel, stats.isDirectory());
}

/**
 * chokidar reads names as UTF-8, so a name that is not valid UTF-8 arrives altered (U+FFFD) and cannot
 * be found again; its folder is reported instead, and re-planning the folder finds the real name.
 */
function reportedRel(rel: RawPath): RawPath {
  let reported = rel;
  while (displayPath(reported).includes('\uFFFD')) reported = parentRel(reported);
  return reported;
}

function watchLimitError(rootText: string): ErrorData {
  let limit = 'unknown';
  try {
    limit = fs.readFileSync(WATCH_LIMIT_FILE, 'utf8').trim();
  } catch {
    // Not Linux, or /proc not mounted: the advice below still holds.
  }
  return {
    code: 'ENOSPC',
    message:
      `cannot watch every folder and file of ${rootText}: the system's inotify watch limit is reached ` +
      `(fs.inotify.max_user_watches = ${limit}). Raise it, e.g. sysctl fs.inotify.max_user_watches=1048576, ` +
      'or exclude large folders that need no backup',
  };
}

async function closeQuietly(watcher: FSWatcher): Promise<void> {
  try {
    await watcher.close();
  } catch {
    // A watcher whose folder vanished can fail to close; there is nothing left to release.
  }
}
