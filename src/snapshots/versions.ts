/**
 * versions/: what the watch daemon replaced or deleted in current/ between two snapshots, kept as hard
 * links (no copy) at `versions/<path>~<UTC time>`, so that any state the daemon saw can be restored.
 */
import fs from 'node:fs';
import { errnoCode } from '../common/errors.js';
import { fsPath, joinRaw, type RawPath } from '../common/raw-path.js';

/** `2026-12-02T014500.123Z`: milliseconds, because the daemon may replace one file twice in a second. */
export function versionTime(time: Date): string {
  return time.toISOString().replace(/:/g, '');
}

const VERSION_RE = /^(.*)~(\d{4})-(\d{2})-(\d{2})T(\d{2})(\d{2})(\d{2})\.(\d{3})Z$/s;

/** The rel (below versions/) where the version of `rel` replaced at `time` is kept. */
export function versionRel(rel: RawPath, time: Date): RawPath {
  return `${rel}~${versionTime(time)}`;
}

/** The kept file's original name and the time it was replaced, or undefined for other names. */
export function parseVersionName(name: string): { base: string; time: Date } | undefined {
  const m = VERSION_RE.exec(name);
  if (!m) return undefined;
  const [, base, y, mo, d, h, mi, s, ms] = m;
  const time = new Date(`${y}-${mo}-${d}T${h}:${mi}:${s}.${ms}Z`);
  return Number.isNaN(time.getTime()) || base === undefined ? undefined : { base, time };
}

/** Removes kept versions older than `maxAgeMs`, and folders left empty by that. Returns how many went. */
export function removeOldVersions(versionsRoot: RawPath, maxAgeMs: number, now = new Date()): number {
  let removed = 0;
  const visit = (rel: RawPath): boolean => {
    const folder = joinRaw(versionsRoot, rel);
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(fsPath(folder), { encoding: 'latin1', withFileTypes: true });
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return true;
      throw err;
    }
    let left = entries.length;
    for (const entry of entries) {
      const child = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        if (visit(child)) {
          fs.rmdirSync(fsPath(joinRaw(versionsRoot, child)));
          left--;
        }
        continue;
      }
      const parsed = parseVersionName(entry.name);
      if (parsed !== undefined && now.getTime() - parsed.time.getTime() > maxAgeMs) {
        fs.rmSync(fsPath(joinRaw(versionsRoot, child)), { force: true });
        removed++;
        left--;
      }
    }
    return left === 0 && rel !== '';
  };
  visit('');
  return removed;
}

