/**
 * Removing snapshots by keep rules. A snapshot is first renamed to `snapshots/.<name>.removing` (one
 * rename: listing no longer sees it, so the next run is not blocked), its manifests go, then its tree is
 * deleted. A prune killed at any point leaves only complete snapshots listed; the leftover `.removing`
 * folders are finished by the next prune, or by a snapshot run through `finishRemovals`.
 *
 * The caller holds the dest's lock: a snapshot run prunes after itself while it holds it already.
 */
import fs from 'node:fs';
import { fsyncDir } from '../common/atomic.js';
import { UsageError, errorData, type EntryFailure } from '../common/errors.js';
import { displayPath, fsPath, joinRaw, type RawPath } from '../common/raw-path.js';
import { removeTree } from '../common/remove-tree.js';
import { parseTimeName } from '../common/time-name.js';
import { isSnapshotDest, listSnapshots, namesIn, readFormat, removingName, snapshotDest, type SnapshotRef } from './layout.js';
import { applyRetention, hasRule, type RetentionRules } from './retention.js';

export interface PruneOptions {
  /** Decide and report; remove nothing (leftovers of a killed prune included). */
  readonly dryRun: boolean;
  /**
   * Stop after renaming the snapshots away and removing their manifests, leaving the trees for
   * `finishRemovals`: the caller may release the dest's lock in between, so a long deletion does not
   * hold up the next run. Default: delete them too.
   */
  readonly deferDeletion?: boolean;
  /** "Now" for keep-within's reference (a snapshot in the future never is it). Default: the clock. */
  readonly now?: Date;
}

export interface PruneResult {
  /** Every complete snapshot, oldest first, with the reasons it is kept (none: it is removed). */
  readonly decisions: readonly { readonly snapshot: SnapshotRef; readonly reasons: readonly string[] }[];
  readonly kept: readonly { readonly name: string; readonly reasons: readonly string[] }[];
  readonly removed: readonly { readonly name: string }[];
  /** Snapshots that could not be removed; a half-removed one stays `.removing` for the next prune. */
  readonly failures: readonly EntryFailure[];
}

/** Refuses (UsageError) a folder without the marker, a newer format, and rules that keep nothing. */
export function checkPrune(root: RawPath, rules: RetentionRules): void {
  if (!hasRule(rules)) throw new UsageError('prune needs at least one keep rule (--keep-last, --keep-daily, … or --keep-within)', 'ENORULE');
  requireSnapshotDest(root);
}

/** Applies `rules` to the complete snapshots of `root`; checks as `checkPrune` does first. */
export function pruneSnapshots(root: RawPath, rules: RetentionRules, options: PruneOptions): PruneResult {
  checkPrune(root, rules);
  const failures: EntryFailure[] = options.dryRun ? [] : finishRemovals(root);
  const decisions = applyRetention(listSnapshots(root), rules, options.now ?? new Date());
  const doomed = decisions.filter((d) => d.reasons.length === 0).map((d) => d.snapshot);
  const removed = options.dryRun ? doomed : removeSnapshots(root, doomed, failures, options.deferDeletion === true);
  const removedNames = new Set(removed.map((s) => s.name));
  return {
    decisions,
    kept: decisions.filter((d) => d.reasons.length > 0).map((d) => ({ name: d.snapshot.name, reasons: d.reasons })),
    removed: decisions.filter((d) => removedNames.has(d.snapshot.name)).map((d) => ({ name: d.snapshot.name })),
    failures,
  };
}

export function requireSnapshotDest(root: RawPath): void {
  if (!isSnapshotDest(root)) {
    throw new UsageError(`${displayPath(root)} is not a snapshot dest (no ${displayPath(snapshotDest(root).marker)})`, 'ENOTSNAPSHOTDEST');
  }
  readFormat(root);
}

/** Renames all of them away first (cheap, and what listing sees), then deletes them one by one. */
function removeSnapshots(root: RawPath, doomed: readonly SnapshotRef[], failures: EntryFailure[], deferDeletion: boolean): SnapshotRef[] {
  const { snapshots } = snapshotDest(root);
  const renamed: SnapshotRef[] = [];
  for (const snapshot of doomed) {
    try {
      fs.renameSync(fsPath(snapshot.path), fsPath(joinRaw(snapshots, removingName(snapshot.name))));
      renamed.push(snapshot);
    } catch (err) {
      failures.push({ path: displayPath(snapshot.path), ...errorData(err) });
    }
  }
  if (renamed.length === 0) return [];
  // The renames reach the disk before any file below them is unlinked, so a power cut cannot leave a
  // listed snapshot with files missing.
  fsyncDir(snapshots);
  const removed: SnapshotRef[] = [];
  for (const snapshot of renamed) {
    const failure = deferDeletion ? removeManifestsOf(root, snapshot.name) : finishRemoval(root, snapshot.name);
    if (failure) failures.push(failure);
    else removed.push(snapshot);
  }
  return removed;
}

const REMOVING_RE = /^\.(.+)\.removing$/s;

/**
 * Deletes what a killed prune left half-removed (`snapshots/.<name>.removing` and its manifests).
 * Returns the ones that could not be deleted; they stay for the next attempt.
 */
export function finishRemovals(root: RawPath): EntryFailure[] {
  const failures: EntryFailure[] = [];
  for (const entry of namesIn(snapshotDest(root).snapshots)) {
    const name = REMOVING_RE.exec(entry)?.[1];
    if (name === undefined || parseTimeName(name) === undefined) continue;
    const failure = finishRemoval(root, name);
    if (failure) failures.push(failure);
  }
  return failures;
}

/** Manifests first: a manifest without its snapshot would be listed by history and diff. */
function finishRemoval(root: RawPath, name: string): EntryFailure | undefined {
  const folder = joinRaw(snapshotDest(root).snapshots, removingName(name));
  try {
    removeManifests(root, name);
    removeTree(folder);
    return undefined;
  } catch (err) {
    return { path: displayPath(folder), ...errorData(err) };
  }
}

function removeManifestsOf(root: RawPath, name: string): EntryFailure | undefined {
  try {
    removeManifests(root, name);
    return undefined;
  } catch (err) {
    return { path: displayPath(snapshotDest(root).manifests), ...errorData(err) };
  }
}

/** Every `.backupd/manifests/<name>.*` (the manifest, whatever its extension, and its companions). */
function removeManifests(root: RawPath, name: string): void {
  const { manifests } = snapshotDest(root);
  for (const file of namesIn(manifests)) if (file.startsWith(`${name}.`)) fs.rmSync(fsPath(joinRaw(manifests, file)), { force: true });
}
