/** Files that may legitimately be absent (a snapshot taken by another tool has no manifest). */
import fs from 'node:fs';
import { errnoCode } from './errors.js';
import { fsPath, type RawPath } from './raw-path.js';

/** A descriptor for reading `file`, or undefined when it does not exist. */
export function openIfPresent(file: RawPath): number | undefined {
  try {
    return fs.openSync(fsPath(file), 'r');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}
