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
import { baseName, fsPath, parentRel, type RawPath } from '../common/raw-path.js';

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
  const fd = fs.openSync(fsPath(parent), O_RDONLY | O_DIRECTORY);
  let result: T;
  try {
    const real = fs.readlinkSync(`${FD_DIR}/${fd}`, { encoding: 'latin1' });
    if (real !== parent) throw new OutsideDestError(parent);
    result = use(`${FD_DIR}/${fd}/${baseName(path)}`);
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  if (result instanceof Promise) return result.finally(() => fs.closeSync(fd)) as T;
  fs.closeSync(fd);
  return result;
}
