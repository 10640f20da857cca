/**
 * chokidar → settled, coalesced batches of changed paths (relative to the watched root, raw).
 *
 * One inotify watch per folder, none per file: chokidar is told to ignore every entry that is not a
 * folder (its `ignored` callback sees the stats), so it lists and watches folders only and keeps no state
 * for files. A folder's inotify watch still reports every change of the files in it, and chokidar passes
 * those on as `raw` events (event, name, the watched folder): each becomes a notice for folder/name.
 * A notice does not say whether the name is a file or a folder; the runner finds out when it plans it.
 *
 * chokidar's own `awaitWriteFinish` polls every file for 2 s by default; the Settler does the same job
 * with one timer and a configurable quiet time. Excluded folders and backupd's temporaries are never
 * watched (an excluded node_modules costs no inotify watch) and never reported.
 */
import fs from 'node:fs';
import path from 'node:path';
import { finished, PassThrough } from 'node:stream';
import { FSWatcher } from 'chokidar';
import { isTempName } from '../common/atomic.js';
import { errorData, errnoCode, type ErrorData } from '../common/errors.js';
import { baseName, displayPath, fsPath, joinRaw, parentRel, rawFromUser, type RawPath } from '../common/raw-path.js';
import { Semaphore } from '../common/semaphore.js';
import { Settler } from './settle.js';

export interface WatchOptions {
  readonly root: RawPath;
  readonly settleMs: number;
  /** Consulted on every path: the rules may grow after the watch started (.backupignore files). */
  readonly isExcluded: (rel: RawPath, isDir: boolean) => boolean;
  readonly onBatch: (rels: RawPath[]) => void;
  /** A problem that does not stop the watch (a folder that could not be watched: `folder`, when known). */
  readonly onError: (error: ErrorData, folder?: string) => void;
  /** The watch cannot go on: out of inotify watches. */
  readonly onFatal: (error: ErrorData) => void;
}

export interface Watcher {
  /** A notice for `rel` is waiting for its quiet time: the file may still be being written. */
  isSettling(rel: RawPath): boolean;
  /** Handles `rel` as if it had just changed: it is reported once it has been quiet for the settle time. */
  notice(rel: RawPath): void;
  /** The paths whose notices are still settling (handed on to the next watch when the watch restarts). */
  settling(): RawPath[];
  close(): Promise<void>;
}

/** What chokidar's `raw` event carries besides the event name (inotify: 'rename' or 'change'). */
interface RawDetails {
  readonly watchedPath: string;
}

const WATCH_LIMIT_FILES = ['/proc/sys/fs/inotify/max_user_watches', '/proc/sys/user/max_inotify_watches'];

/**
 * chokidar lists a new folder first and puts its inotify watch on it only after the listing, so files
 * created in between are never reported (seen here: 98 of 100 files of a folder created in a burst were
 * missed under load). A new folder is therefore noticed again after these delays, and re-scanning it
 * copies whatever was missed; files already copied are current and cost nothing.
 */
const NEW_FOLDER_RECHECKS_MS = [1_000, 5_000];
/** Folders chokidar lists at the same time (see limitListings). */
const LISTINGS_AT_ONCE = 8;
/** inotify reports a deleted folder to its own watch more than once. */
const REWATCH_DEBOUNCE_MS = 100;

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
  let fatal = false;
  const chokidar = new FSWatcher({
    ignoreInitial: true,
    followSymlinks: false,
    // chokidar's "atomic" mode hides names like `notes~` and `.x.swp`, which are files a backup must keep.
    atomic: false,
    // Called for every entry of every folder listed: files are dismissed before any path work.
    ignored: (p: string, stats?: fs.Stats) => (stats !== undefined && !stats.isDirectory()) || isIgnored(relOf(p), stats, options.isExcluded),
  });
  limitListings(chokidar);
  const rewatch = rewatcher(chokidar, (folder) => recheckLater(relOf(folder)));
  chokidar.on('raw', (_event: string, name: string | null, details: unknown) => {
    const folder = (details as RawDetails).watchedPath;
    if (folder !== rootText && isAboutItself(folder, name)) rewatch(folder);
    const rel = changedRel(relOf(folder), name);
    if (!isIgnored(rel, undefined, options.isExcluded)) settler.notice(reportedRel(rel));
  });
  chokidar.on('addDir', (p: string) => recheckLater(reportedRel(relOf(p))));
  chokidar.on('error', (err: unknown) => {
    if (errnoCode(err) !== 'ENOSPC') {
      options.onError(errorData(err), (err as NodeJS.ErrnoException).path);
    } else if (!fatal) {
      fatal = true;
      options.onFatal(watchLimitError(options.root, options.isExcluded));
    }
  });
  chokidar.add(rootText);
  await new Promise<void>((resolve) => chokidar.once('ready', resolve));
  return {
    isSettling: (rel) => settler.has(rel),
    notice: (rel) => settler.notice(rel),
    settling: () => settler.settling(),
    async close() {
      for (const timer of rechecks) clearTimeout(timer);
      settler.clear();
      await closeQuietly(chokidar);
    },
  };
}

/**
 * chokidar 5 keeps a folder that was deleted and created again between two reads of its parent on the
 * dead inotify watch of the old folder, so nothing in the new one is ever reported (seen here with
 * `rm -r dir && mkdir dir`). Forgetting the folder and adding it again gives the new one its own watch;
 * `onBack` re-scans it for what it held meanwhile.
 */
function rewatcher(chokidar: FSWatcher, onBack: (folder: string) => void): (folder: string) => void {
  const recent = new Set<string>();
  return (folder) => {
    if (recent.has(folder)) return;
    recent.add(folder);
    setTimeout(() => recent.delete(folder), REWATCH_DEBOUNCE_MS).unref();
    chokidar._remove(path.dirname(folder), path.basename(folder), true);
    if (isDirectory(folder)) {
      chokidar.add(folder);
      onBack(folder);
    }
  };
}

/**
 * chokidar lists every folder it finds at once, and lists a folder by lstat-ing all its entries in one
 * go, so at start-up every file of the tree waits for its lstat at the same time: 100,000 files held
 * ~250 MB of pending requests and stats (480 MB of RSS). Listing a few folders at a time keeps that to
 * a few thousand, and is no slower: libuv runs four lstat calls at a time anyway.
 */
function limitListings(chokidar: FSWatcher): void {
  const list = chokidar._readdirp.bind(chokidar);
  const slots = new Semaphore(LISTINGS_AT_ONCE);
  chokidar._readdirp = (root, opts) => {
    const relay = new PassThrough({ objectMode: true });
    void slots.run(
      () =>
        new Promise<void>((done) => {
          const listing = list(root, opts);
          if (listing === undefined) {
            // Closed meanwhile.
            relay.end();
            done();
            return;
          }
          finished(listing, () => done());
          listing.on('error', (err: Error) => relay.destroy(err));
          listing.pipe(relay);
        }),
    );
    return relay as unknown as ReturnType<FSWatcher['_readdirp']>;
  };
}

/**
 * inotify names an event on the watched folder itself (deleted, moved away) with the folder's own name.
 * A child of the same name that exists is the likelier reading.
 */
function isAboutItself(folder: string, name: string | null): boolean {
  return name === path.basename(folder) && !fs.existsSync(path.join(folder, name));
}

function isDirectory(folder: string): boolean {
  return fs.lstatSync(folder, { throwIfNoEntry: false })?.isDirectory() === true;
}

/**
 * The path a raw event is about. inotify names the entry of the watched folder that changed; an event
 * on the folder itself (deleted, moved away) carries the folder's own name, which then reads as a child
 * of that name: harmless, since the event in the parent folder reports the folder too.
 */
function changedRel(folder: RawPath, name: string | null): RawPath {
  return name === null || name === '' ? folder : joinRaw(folder, rawFromUser(name));
}

/**
 * chokidar asks once without stats (to skip a path early) and again with them. Only folders are watched:
 * anything else is reported through its folder's raw events. Without stats a path is only ignored when
 * it would be excluded as a file and as a folder alike.
 */
function isIgnored(rel: RawPath, stats: fs.Stats | undefined, isExcluded: WatchOptions['isExcluded']): boolean {
  if (rel === '') return false;
  if (isTempName(baseName(rel))) return true;
  if (stats === undefined) return isExcluded(rel, false) && isExcluded(rel, true);
  return !stats.isDirectory() || isExcluded(rel, true);
}

/**
 * chokidar reads names as UTF-8, so a name that is not valid UTF-8 arrives altered (U+FFFD) and cannot
 * be found again; its folder is reported instead, and re-scanning the folder finds the real name.
 */
function reportedRel(rel: RawPath): RawPath {
  let reported = rel;
  while (displayPath(reported).includes('\uFFFD')) reported = parentRel(reported);
  return reported;
}

function watchLimitError(root: RawPath, isExcluded: WatchOptions['isExcluded']): ErrorData {
  const rootText = displayPath(root);
  return {
    code: 'ENOSPC',
    message:
      `cannot watch the ${countFolders(root, isExcluded).toLocaleString('en-US')} folders of ${rootText}: the system's ` +
      `inotify watch limit is reached (fs.inotify.max_user_watches = ${watchLimit()}; one watch per folder). ` +
      'Raise it, e.g. sysctl fs.inotify.max_user_watches=1048576, or exclude large folders that need no backup',
  };
}

/** The limit in force: the machine's, or a lower one of the user namespace the daemon runs in. */
function watchLimit(): string {
  const limits: number[] = [];
  for (const file of WATCH_LIMIT_FILES) {
    try {
      limits.push(Number(fs.readFileSync(file, 'utf8').trim()));
    } catch {
      // Not Linux, or /proc not mounted: the advice still holds.
    }
  }
  return limits.length === 0 ? 'unknown' : Math.min(...limits).toLocaleString('en-US');
}

/** Folders the watch needs (the root and every folder below it that is not excluded). */
function countFolders(root: RawPath, isExcluded: WatchOptions['isExcluded']): number {
  let count = 0;
  const stack: RawPath[] = [''];
  for (let rel = stack.pop(); rel !== undefined; rel = stack.pop()) {
    count++;
    let names: fs.Dirent<string>[];
    try {
      names = fs.readdirSync(fsPath(joinRaw(root, rel)), { withFileTypes: true, encoding: 'latin1' });
    } catch {
      continue;
    }
    for (const entry of names) {
      const child = joinRaw(rel, entry.name);
      if (entry.isDirectory() && !isExcluded(child, true)) stack.push(child);
    }
  }
  return count;
}

async function closeQuietly(watcher: FSWatcher): Promise<void> {
  try {
    await watcher.close();
  } catch {
    // A watcher whose folder vanished can fail to close; there is nothing left to release.
  }
}
