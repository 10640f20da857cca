/** The `<dest>` argument of the snapshot commands (prune, restore): an existing folder, as a raw path. */
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../common/errors.js';
import { rawFromUser, type RawPath } from '../common/raw-path.js';
import { expandHome } from '../config/load.js';

export function resolveSnapshotDest(destArg: string): RawPath {
  const absolute = path.resolve(expandHome(destArg));
  let stat: fs.Stats;
  try {
    stat = fs.statSync(absolute);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'ENOENT' ? `dest ${absolute} does not exist` : `dest ${absolute} cannot be read (${code})`);
  }
  if (!stat.isDirectory()) throw new UsageError(`dest ${absolute} is not a folder`);
  return rawFromUser(absolute);
}
