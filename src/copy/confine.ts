/**
 * Keeps every write inside dest when a dest folder is swapped for a symlink after the scan (by a user or
 * a program with write access to dest). O_NOFOLLOW only guards the last name of a path; the folders above
 * it are followed. Node has no openat(), so the parent folder is opened, its real path read back through
 * /proc/self/fd and compared with where it should be; the write then goes through that open descriptor
 * (/proc/self/fd/N/name), which a later swap of the path cannot redirect.
 *
 * Paths given here must be below dest's real path (executeBackup resolves dest once), so a parent's real
 * path equals its path exactly when no folder on the way is a symlink.
 */
import fs from 'node:fs';
import { errnoCode } from '../common/errors.js';
import { baseName, fsPath, joinRaw, parentRel, type RawPath } from '../common/raw-path.js';

const FD_DIR = '/proc/self/fd';
const { O_RDONLY, O_DIRECTORY } = fs.constants;

/** Without /proc (not Linux, or not mounted) the parent cannot be pinned; paths are used as they are. */
const canPin = fs.existsSync(FD_DIR);

export class OutsideDestError extends Error {
  readonly code = 'EOUTSIDE';
  constructor(parent: RawPath) {
    super(`not written: a folder on the way is a symlink now and leads elsewhere (${Buffer.from(parent, 'latin1').toString('utf8')})`);
  }
}

/**
 * Runs `use` with a path to the same entry as `path` whose parent folder is pinned and known to be the
 * real folder at `parentRel(path)`; throws OutsideDestError when it is not. The folder stays pinned until
 * `use` returns or, when it returns a promise, until that settles.
 */
export function withPinnedParent<T>(path: RawPath, use: (pinned: RawPath) => T): T {
  if (!canPin) return use(path);
  const parent = parentRel(path) || '/';
  const fd = pinFolder(parent);
  let result: T;
  try {
    result = use(`${FD_DIR}/${fd}/${baseName(path)}`);
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  if (result instanceof Promise) return result.finally(() => fs.closeSync(fd)) as T;
  fs.closeSync(fd);
  return result;
}

/** Opens `folder` and checks that it is the real folder at that path; the descriptor is the caller's. */
function pinFolder(folder: RawPath): number {
  const fd = fs.openSync(fsPath(folder), O_RDONLY | O_DIRECTORY);
  try {
    if (fs.readlinkSync(`${FD_DIR}/${fd}`, { encoding: 'latin1' }) !== folder) throw new OutsideDestError(folder);
    return fd;
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

/** A folder held open and checked by ParentPins. */
export interface PinnedFolder {
  readonly fd: number;
}

/**
 * withPinnedParent for a sequence of writes (a batch of copies, mostly of one folder): consecutive paths
 * in the same folder share its pin, checked once when it is opened (writes through the descriptor stay in
 * that folder however its path changes later). Saves an open, a readlink and a close per file.
 */
export class ParentPins {
  private parent: RawPath | undefined;
  private folder: PinnedFolder | undefined;

  /** `path` reached through its pinned parent, and that folder (undefined without /proc: plain paths). */
  pin(path: RawPath): { readonly pinned: RawPath; readonly folder: PinnedFolder | undefined } {
    if (!canPin) return { pinned: path, folder: undefined };
    const parent = parentRel(path) || '/';
    if (this.folder === undefined || parent !== this.parent) {
      this.close();
      this.folder = { fd: pinFolder(parent) };
      this.parent = parent;
    }
    return { pinned: `${FD_DIR}/${this.folder.fd}/${baseName(path)}`, folder: this.folder };
  }

  close(): void {
    if (this.folder !== undefined) fs.closeSync(this.folder.fd);
    this.folder = undefined;
    this.parent = undefined;
  }
}

/** mkdir -p of `rel` below the real folder `root`, each folder made through its pinned, checked parent. */
export function makeFoldersBelow(root: RawPath, rel: RawPath): void {
  let path = root;
  for (const name of rel.split('/')) {
    if (name === '') continue;
    path = joinRaw(path, name);
    withPinnedParent(path, (pinned) => {
      try {
        fs.mkdirSync(fsPath(pinned), { mode: 0o700 });
      } catch (err) {
        // An existing name that is not a real folder is caught by the pin of the next level.
        if (errnoCode(err) !== 'EEXIST') throw err;
      }
    });
  }
}
