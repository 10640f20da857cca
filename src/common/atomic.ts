/**
 * Temporary names and atomic small-file writes.
 *
 * Every file backupd writes goes to a temporary name in its final folder first and is renamed into place,
 * so a final name never holds a partial file, even after kill -9. The temporary name is recognisable so
 * that the next run can remove what a killed run left behind.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { baseName, fsPath, joinRaw, parentRel, type RawPath } from './raw-path.js';

const TEMP_SUFFIX = '.backupd-tmp';
const TEMP_RE = /^\..*\.[0-9a-f]{8}\.backupd-tmp$/s;
const NAME_MAX = 255;
/** '.' + '.' + 8 hex + suffix */
const TEMP_OVERHEAD = 2 + 8 + TEMP_SUFFIX.length;

/**
 * Temporary-name tags: a random start per thread, then counting. A random draw per file cost ~2 µs, which
 * shows at 20,000 files; uniqueness only needs to hold per folder, and O_EXCL catches the rare clash.
 */
let nextTag = randomBytes(4).readUInt32BE(0);

/**
 * A fresh temporary name beside `finalRel`. Raw paths are one char per byte, so slicing by length keeps
 * the name within NAME_MAX bytes even when the original already uses all 255.
 */
export function tempRelFor(finalRel: RawPath): RawPath {
  const name = baseName(finalRel).slice(0, NAME_MAX - TEMP_OVERHEAD);
  nextTag = (nextTag + 1) >>> 0;
  const temp = `.${name}.${nextTag.toString(16).padStart(8, '0')}${TEMP_SUFFIX}`;
  return joinRaw(parentRel(finalRel), temp);
}

export function isTempName(name: RawPath): boolean {
  return TEMP_RE.test(name);
}

/**
 * Replace `file` with `data` atomically and durably: write a temporary, fsync it, rename, fsync the folder.
 * Used for small state files (assembly resume state, snapshot manifests), never for the user's data path.
 * `durable: false` skips both fsyncs, for callers that flush the whole filesystem before they commit.
 */
export function writeFileAtomic(file: RawPath, data: string | Uint8Array, { durable = true }: { durable?: boolean } = {}): void {
  const dir = parentRel(file) || '.';
  const temp = joinRaw(dir, baseName(tempRelFor(file)));
  const fd = fs.openSync(fsPath(temp), fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  try {
    fs.writeFileSync(fd, data);
    if (durable) fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(fsPath(temp), { force: true });
    throw err;
  }
  fs.closeSync(fd);
  fs.renameSync(fsPath(temp), fsPath(file));
  if (durable) fsyncDir(dir);
}

export function fsyncDir(dir: RawPath): void {
  const fd = fs.openSync(fsPath(dir), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
