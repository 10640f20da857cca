/**
 * `latestSnapshot` of a job: the newest complete snapshot in its dest when the dest is a snapshot dest
 * (src/snapshots/layout.ts). Looked up at most every few seconds per dest: status lines and progress
 * ask often, and a listing is a readdir.
 */
import { displayPath, type RawPath } from '../common/raw-path.js';
import { findSnapshot, isSnapshotDest } from '../snapshots/layout.js';
import type { LatestSnapshotSource } from './state.js';

const FRESH_MS = 5000;

export function snapshotsInDest(now: () => number = Date.now): LatestSnapshotSource {
  const cache = new Map<RawPath, { at: number; value: ReturnType<LatestSnapshotSource> }>();
  return (dest) => {
    const cached = cache.get(dest);
    if (cached !== undefined && now() - cached.at < FRESH_MS) return cached.value;
    const value = lookUp(dest);
    cache.set(dest, { at: now(), value });
    return value;
  };
}

function lookUp(dest: RawPath): ReturnType<LatestSnapshotSource> {
  try {
    if (!isSnapshotDest(dest)) return null;
    const ref = findSnapshot(dest);
    return ref === undefined ? null : { at: ref.time.toISOString(), path: displayPath(ref.path) };
  } catch {
    // A dest that cannot be listed right now (unplugged): no snapshot to report, the job's state says why.
    return null;
  }
}
