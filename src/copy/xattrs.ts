/**
 * Extended attributes (user.*, trusted.*, security.*, and the POSIX ACLs stored as
 * system.posix_acl_access / system.posix_acl_default), copied by descriptor: the source through the
 * descriptor already opened and checked, dest through the temporary's (or the dest entry's) descriptor,
 * so no path is looked up twice and no symlink swapped in between is followed.
 *
 * Node has no xattr API; fs-native-extensions wraps flistxattr/fgetxattr/fsetxattr/fremovexattr with
 * prebuilt binaries inside the registry package. It is loaded on first use, so a platform without a build
 * gets one clear message (`xattrSupport`) instead of a crash.
 *
 * Order matters for the caller: chown clears security.capability and chmod rewrites the ACL's mask, so
 * attributes are written after owner and mode (see applyMeta in copy-file.ts).
 */
import { createRequire } from 'node:module';
import fs from 'node:fs';
import { errorData, errnoCode } from '../common/errors.js';
import { fsPath, type RawPath } from '../common/raw-path.js';

interface NativeXattrs {
  listAttrsSync(fd: number): string[];
  getAttrSync(fd: number, name: string): Buffer | null;
  setAttrSync(fd: number, name: string, value: Buffer): void;
  removeAttrSync(fd: number, name: string): void;
}

/** One attribute that could not be read from the source or written to dest. Plain data (crosses threads). */
export interface AttributeProblem {
  readonly side: 'source' | 'dest';
  /** The attribute's name; '' when the list itself could not be read. */
  readonly name: string;
  readonly code: string;
  readonly message: string;
}

const require = createRequire(import.meta.url);
let native: NativeXattrs | undefined;
let loadError: string | undefined;

function load(): NativeXattrs | undefined {
  if (native === undefined && loadError === undefined) {
    try {
      native = require('fs-native-extensions') as NativeXattrs;
    } catch (err) {
      loadError = `fs-native-extensions has no build for ${process.platform}-${process.arch} (${errorData(err).message})`;
    }
  }
  return native;
}

/** Undefined when attributes can be copied here, else why not (to tell the user once per run). */
export function xattrSupport(): string | undefined {
  load();
  return loadError;
}

/** Written last: chown and chmod on dest clear it, and setting it needs the final owner in place. */
const CAPABILITY = 'security.capability';

/**
 * Makes dest's attributes equal to the source's: sets those missing or different, removes those the
 * source lacks (a temporary can inherit an ACL from a default ACL on its folder). `fresh`: dest is a new
 * temporary in a folder that passes no attributes on (passesAttributesOn), so it has none. Returns what could not
 * be done; never throws for one attribute.
 */
export function copyXattrs(srcFd: number, dstFd: number, dest: 'existing' | 'fresh' = 'existing'): AttributeProblem[] {
  const xattrs = load();
  if (xattrs === undefined) return [];
  const problems: AttributeProblem[] = [];
  const sourceNames = listNames(xattrs, srcFd, 'source', problems);
  // A fresh temporary has no attributes to compare or remove (the caller knows its folder passes no ACL
  // on): one syscall less per copied file.
  const destNames = dest === 'fresh' ? [] : listNames(xattrs, dstFd, 'dest', problems);
  if (sourceNames === undefined || destNames === undefined) return problems;
  if (sourceNames.length === 0 && destNames.length === 0) return problems;

  const ordered = [...sourceNames.filter((n) => n !== CAPABILITY), ...sourceNames.filter((n) => n === CAPABILITY)];
  for (const name of ordered) {
    const value = attempt(problems, 'source', name, () => xattrs.getAttrSync(srcFd, name));
    // null: removed from the source since it was listed.
    if (value === undefined || value === null) continue;
    if (destNames.includes(name)) {
      const current = attempt(problems, 'dest', name, () => xattrs.getAttrSync(dstFd, name));
      if (current !== undefined && current !== null && current.equals(value)) continue;
    }
    attempt(problems, 'dest', name, () => xattrs.setAttrSync(dstFd, name, value));
  }
  for (const name of destNames) {
    if (!sourceNames.includes(name)) attempt(problems, 'dest', name, () => xattrs.removeAttrSync(dstFd, name));
  }
  return problems;
}

/**
 * Whether entries created in this folder start with attributes of their own: a default ACL is inherited
 * by every new entry. Unknown (the list failed) counts as yes.
 */
export function passesAttributesOn(folderFd: number): boolean {
  const xattrs = load();
  if (xattrs === undefined) return false;
  try {
    return xattrs.listAttrsSync(folderFd).includes('system.posix_acl_default');
  } catch (err) {
    return errnoCode(err) !== 'ENOTSUP';
  }
}

/**
 * The same on an existing dest entry, opened without following a final symlink. Dest entries we may not
 * open (mode 0 without root) report the open failure as the problem.
 */
export function copyXattrsAt(srcFd: number, dst: RawPath): AttributeProblem[] {
  return withOpenEntry(dst, 'dest', (dstFd) => copyXattrs(srcFd, dstFd));
}

/** Between two existing entries (an in-place update): the source too is opened without following a symlink. */
export function copyXattrsBetween(src: RawPath, dst: RawPath): AttributeProblem[] {
  return withOpenEntry(src, 'source', (srcFd) => copyXattrsAt(srcFd, dst));
}

function withOpenEntry(path: RawPath, side: AttributeProblem['side'], use: (fd: number) => AttributeProblem[]): AttributeProblem[] {
  let fd: number;
  try {
    fd = fs.openSync(fsPath(path), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (err) {
    return [{ side, name: '', ...errorData(err) }];
  }
  try {
    return use(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function listNames(xattrs: NativeXattrs, fd: number, side: AttributeProblem['side'], problems: AttributeProblem[]): string[] | undefined {
  try {
    return xattrs.listAttrsSync(fd);
  } catch (err) {
    // A filesystem without attributes has none to copy (source) and can take none (dest, reported per name).
    if (errnoCode(err) === 'ENOTSUP') return [];
    problems.push({ side, name: '', ...describe(err) });
    return undefined;
  }
}

function attempt<T>(problems: AttributeProblem[], side: AttributeProblem['side'], name: string, op: () => T): T | undefined {
  try {
    return op();
  } catch (err) {
    problems.push({ side, name, ...describe(err) });
    return undefined;
  }
}

/** The native module's messages are strerror's ("operation not supported on socket" for ENOTSUP). */
function describe(err: unknown): { code: string; message: string } {
  const { code, message } = errorData(err);
  if (code === 'ENOTSUP') return { code, message: 'not supported by this filesystem' };
  if (code === 'EPERM') return { code, message: 'operation not permitted' };
  return { code, message };
}

/** A problem as the one-line warning text: names the attribute and what went wrong. */
export function problemText(problem: AttributeProblem): string {
  const what = problem.name === '' ? 'extended attributes' : `extended attribute ${problem.name}`;
  const verb = problem.side === 'source' ? 'not read' : 'not kept';
  return `${what} ${verb}: ${problem.message}`;
}
