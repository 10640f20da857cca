/**
 * Restore from a snapshot dest: `snapshots/<name>/` (or paths of it), the browsable tree, walked and
 * restored by backup/restore.ts with the local executor. It works on any folder of the snapshot layout.
 */
import fs from 'node:fs';
import { executeBackup } from '../backup/backup.js';
import { executeRestoreWith, planRestoreFrom, type PlannedRestore, type RestoreReport, type RestoreTarget } from '../backup/restore.js';
import { UsageError, errnoCode } from '../common/errors.js';
import { displayPath, fsPath, type RawPath } from '../common/raw-path.js';
import type { ExecuteOptions } from '../copy/execute.js';
import { walkTree } from '../plan/walk.js';
import { findSnapshot, isSnapshotDest, LATEST, listSnapshots, readFormat, type SnapshotRef } from './layout.js';

export interface RestoreRequest extends RestoreTarget {
  /** The snapshot dest. */
  readonly root: RawPath;
  /** A snapshot name or `latest`. */
  readonly snapshot: string;
}

export interface PlannedSnapshotRestore extends PlannedRestore {
  readonly snapshot: SnapshotRef;
}

/** Plans a restore; writes nothing. Throws UsageError for an unknown snapshot or path, or a non-empty `to`. */
export function planRestore(request: RestoreRequest): PlannedSnapshotRestore {
  const snapshot = pickSnapshot(request.root, request.snapshot);
  const source = walkTree(snapshot.path, { only: request.paths.length > 0 ? request.paths : undefined, collectTemps: true });
  return { ...planRestoreFrom(source, `snapshot ${snapshot.name}`, request), snapshot };
}

export function executeRestore(planned: PlannedSnapshotRestore, options: Omit<ExecuteOptions, 'sourceRoot' | 'destRoot'>): Promise<RestoreReport> {
  return executeRestoreWith(planned, (plan) => executeBackup({ job: { source: planned.snapshot.path, dest: planned.to }, plan }, options));
}

function pickSnapshot(root: RawPath, name: string): SnapshotRef {
  if (isSnapshotDest(root)) readFormat(root);
  const snapshot = findSnapshot(root, name);
  if (snapshot === undefined) {
    const names = listSnapshots(root).map((s) => s.name);
    if (names.length === 0) throw new UsageError(`${displayPath(root)}: no snapshots (no complete snapshots/<name>/ folder)`, 'ENOSNAPSHOT');
    const shown = names.length > 3 ? `${names.slice(-3).join(', ')} and ${names.length - 3} older` : names.join(', ');
    throw new UsageError(`${name === LATEST ? LATEST : `snapshot ${name}`}: not in ${displayPath(root)} (it has ${shown})`, 'ENOSNAPSHOT');
  }
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(fsPath(snapshot.path));
  } catch (err) {
    throw new UsageError(`${displayPath(snapshot.path)}: cannot be read (${errnoCode(err) ?? 'error'})`, 'ENOSNAPSHOT');
  }
  if (!stat.isDirectory()) throw new UsageError(`${displayPath(snapshot.path)}: not a folder`, 'ENOSNAPSHOT');
  return snapshot;
}
