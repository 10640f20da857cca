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
  const fd = pin(parentRel(path) || '/');
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

/** The folder `parent` opened, and checked to be the real folder at that path (else OutsideDestError). */
function pin(parent: RawPath): number {
  const fd = fs.openSync(fsPath(parent), O_RDONLY | O_DIRECTORY);
  try {
    if (fs.readlinkSync(`${FD_DIR}/${fd}`, { encoding: 'latin1' }) !== parent) throw new OutsideDestError(parent);
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  return fd;
}

/**
 * withPinnedParent for a long run of writes that come folder by folder (a walk lists a folder's entries
 * together): the last parent stays pinned until a path in another folder comes, so a tree of 20,000
 * files in 200 folders costs 200 pins, not 20,000. `close()` when done.
 */
export class PinnedParents {
  private parent: RawPath | undefined;
  private fd = -1;

  /** A path to the same entry as `path` through its pinned, checked parent. */
  at(path: RawPath): RawPath {
    if (!canPin) return path;
    const parent = parentRel(path) || '/';
    if (parent !== this.parent) {
      this.close();
      this.fd = pin(parent);
      this.parent = parent;
    }
    return `${FD_DIR}/${this.fd}/${baseName(path)}`;
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
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
