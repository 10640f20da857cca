/**
 * Turns what the user typed (and the config's jobs) into checked source and dest folders. Every problem
 * here is a UsageError (exit 2) raised before anything is written.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../common/errors.js';
import { expandHome } from '../config/load.js';
import type { Config, JobConfig } from '../config/schema.js';

export interface JobPaths {
  /** Absolute, with symlinks in the source's own path resolved. */
  readonly source: string;
  readonly dest: string;
  /** The config job this came from, if any (its excludes and --delete setting apply). */
  readonly job?: JobConfig;
}

export function resolveJobPaths(sourceArg: string, destArg: string | undefined, config: Config): JobPaths {
  const source = checkSource(sourceArg);
  const job = config.jobs.find((j) => sameFolder(j.source, source));
  const destText = destArg ?? job?.dest ?? defaultDest(sourceArg);
  // An object store is checked by its own client (store/s3), not as a folder.
  if (destText.startsWith('s3://')) return { source, dest: destText, job };
  const dest = path.resolve(expandHome(destText));
  checkDest(source, dest);
  return { source, dest, job };
}

/** `~/docs` and `~/docs/` both back up to `~/docs-backup`. */
export function defaultDest(sourceArg: string): string {
  const trimmed = path.resolve(expandHome(sourceArg));
  return `${trimmed}-backup`;
}

function checkSource(sourceArg: string): string {
  const absolute = path.resolve(expandHome(sourceArg));
  requireFolder('source', absolute);
  return fs.realpathSync(absolute);
}

/** Refuses (UsageError) when `absolute` is not an existing folder; `label` ("source", "dest") names it. */
export function requireFolder(label: string, absolute: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(absolute);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'ENOENT' ? `${label} ${absolute} does not exist` : `${label} ${absolute} cannot be read (${code})`);
  }
  if (!stat.isDirectory()) throw new UsageError(`${label} ${absolute} is not a folder`);
}

/**
 * Refuses a dest that is the source, inside it or around it. Compared by real path and by device and
 * inode of every ancestor, so symlinks, `..` and bind mounts cannot hide the overlap.
 */
function checkDest(source: string, dest: string): void {
  const destStat = statOrUndefined(dest);
  if (destStat !== undefined && !destStat.isDirectory()) throw new UsageError(`dest ${dest} exists and is not a folder`);
  switch (placeOf(dest, source)) {
    case 'same':
      throw new UsageError(`dest ${dest} is the source folder itself`);
    case 'inside':
      throw new UsageError(`dest ${dest} is inside the source ${source}`);
    case 'around':
      throw new UsageError(`dest ${dest} contains the source ${source}`);
  }
}

export type Placement = 'same' | 'inside' | 'around' | 'apart';

/**
 * Where folder `target` (which may not exist yet) lies relative to the existing folder `anchor`, by real
 * path and by device and inode of every ancestor.
 */
export function placeOf(target: string, anchor: string): Placement {
  const targetStat = statOrUndefined(target);
  const realTarget = realPathOfPossiblyMissing(target);
  const realAnchor = fs.realpathSync(anchor);
  const anchorStat = fs.statSync(anchor);
  if (realTarget === realAnchor || sameInode(targetStat, anchorStat)) return 'same';
  if (isWithin(realTarget, realAnchor) || ancestorsOf(realTarget).some((a) => sameInode(statOrUndefined(a), anchorStat))) return 'inside';
  if (isWithin(realAnchor, realTarget) || (targetStat !== undefined && ancestorsOf(realAnchor).some((a) => sameInode(statOrUndefined(a), targetStat)))) {
    return 'around';
  }
  return 'apart';
}

/** The real path of the deepest existing ancestor, with the missing rest appended. */
function realPathOfPossiblyMissing(target: string): string {
  const missing: string[] = [];
  let current = target;
  for (;;) {
    try {
      return path.join(fs.realpathSync(current), ...missing.reverse());
    } catch {
      const parent = path.dirname(current);
      if (parent === current) return target;
      missing.push(path.basename(current));
      current = parent;
    }
  }
}

function ancestorsOf(p: string): string[] {
  const result: string[] = [];
  for (let current = path.dirname(p); ; current = path.dirname(current)) {
    result.push(current);
    if (current === path.dirname(current)) return result;
  }
}

function isWithin(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

function sameInode(a: fs.Stats | undefined, b: fs.Stats): boolean {
  return a !== undefined && a.dev === b.dev && a.ino === b.ino;
}

function sameFolder(configured: string, realSource: string): boolean {
  try {
    return fs.realpathSync(path.resolve(configured)) === realSource;
  } catch {
    return false;
  }
}

function statOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch {
    return undefined;
  }
}
