/** The `<dest>` argument of the snapshot commands (prune, restore): an existing folder, as a raw path. */
import path from 'node:path';
import { rawFromUser, type RawPath } from '../common/raw-path.js';
import { expandHome } from '../config/load.js';
import { requireFolder } from './resolve-job.js';

export function resolveSnapshotDest(destArg: string): RawPath {
  const absolute = path.resolve(expandHome(destArg));
  requireFolder('dest', absolute);
  return rawFromUser(absolute);
}
