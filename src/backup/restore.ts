/**
 * Restore: a backup from a tree (a snapshot folder, an object store's listing) into a folder, through the
 * same planner as `backup`, so every entry lands atomically with its mode, times, symlinks and (as root)
 * owner. What restore adds is keeping the user's files: every entry in the target that the plan would
 * replace is first kept in `<to>/.backupd-restore-<UTC time>/<same path>`, by a hard link where possible
 * (the original stays at its place until the restored file is renamed over it) or by a rename (folders,
 * filesystems without links). Files already equal to the source's (size and mtime) are not planned at
 * all, so a rerun restores and keeps aside nothing new. Only what the source has is looked at in the
 * target: the rest of the user's folder is none of restore's business.
 */
import fs from 'node:fs';
import { UsageError, errorData, errnoCode, type EntryFailure } from '../common/errors.js';
import { baseName, displayPath, fsPath, joinRaw, parentRel, type RawPath } from '../common/raw-path.js';
import { freshTimeName } from '../common/time-name.js';
import { withPinnedParent } from '../copy/confine.js';
import type { ExecutionReport } from '../copy/execute.js';
import { buildPlan } from '../plan/plan.js';
import type { Action, Entry, Plan, Tree } from '../plan/types.js';
import { walkTree } from '../plan/walk.js';

export const ASIDE_PREFIX = '.backupd-restore-';

export interface RestoreTarget {
  /** Clean relative paths of the backed-up root (no '.', '..', leading or doubled '/'); none: all. */
  readonly paths: readonly RawPath[];
  /** Absolute; checked by the caller not to be inside the source. */
  readonly to: RawPath;
  /** Restore into a non-empty `to`, keeping aside what is replaced. */
  readonly overwrite: boolean;
  readonly keepOwner: boolean;
  /** Restore extended attributes (where this build can copy them, and the source has them). */
  readonly xattrs: boolean;
  /** Where the source lies below `to`, when it does: nothing there (or above it) may be replaced. */
  readonly avoid?: RawPath;
  /** Names the keep-aside folder. Default: the clock. */
  readonly now?: Date;
}

export interface PlannedRestore {
  readonly to: RawPath;
  readonly plan: Plan;
  /** Entries of `to` (relative) that the plan replaces, topmost only, in plan order. */
  readonly keepAside: readonly RawPath[];
  /** `<to>/.backupd-restore-<time>`; undefined when nothing is kept aside. */
  readonly asideFolder: RawPath | undefined;
  readonly scanFailures: readonly EntryFailure[];
}

export interface RestoreReport {
  readonly execution: ExecutionReport;
  readonly keptAside: readonly KeptAside[];
  /** Keep-aside failures: their entries were left as they were, not restored. */
  readonly failures: readonly EntryFailure[];
}

export interface KeptAside {
  readonly path: RawPath;
  readonly keptAs: RawPath;
}

/**
 * Plans a restore of `source` (walked or listed with the target's paths) into the target; writes nothing.
 * Throws UsageError for a path `source` lacks (`sourceName` names it) or a non-empty `to` without overwrite.
 */
export function planRestoreFrom(source: Tree, sourceName: string, request: RestoreTarget): PlannedRestore {
  for (const rel of request.paths) {
    if (!source.entries.has(rel)) throw new UsageError(`${displayPath(rel)}: not in ${sourceName}`, 'ENOPATH');
  }
  checkTarget(request.to, request.overwrite);
  const only = request.paths.length > 0 ? request.paths : topLevel(source);
  const target = walkTree(request.to, { only, collectTemps: true });
  const plan = buildPlan(source, target, {
    compare: 'size-mtime',
    delete: false,
    replaceFolders: true,
    keepOwner: request.keepOwner,
    hardLinks: false,
    xattrs: request.xattrs,
  });
  if (request.avoid !== undefined) checkAvoids(plan, request.avoid, request.to);
  const keepAside = replacedEntries(plan, target);
  return {
    to: request.to,
    plan,
    keepAside,
    asideFolder: keepAside.length > 0 ? joinRaw(request.to, asideName(request.to, request.now ?? new Date())) : undefined,
    scanFailures: [...source.failures, ...target.failures],
  };
}

/**
 * Keeps aside every entry the plan replaces, then runs `execute` on the plan less the entries that could
 * not be kept aside (those are left as they were, and reported).
 */
export async function executeRestoreWith(planned: PlannedRestore, execute: (plan: Plan) => Promise<ExecutionReport>): Promise<RestoreReport> {
  const failures: EntryFailure[] = [];
  const keptAside: KeptAside[] = [];
  const notKept: RawPath[] = [];
  if (planned.asideFolder !== undefined) {
    // Below `to`'s real path, as the executor's writes are (copy/confine.ts pins every parent).
    const to = fs.realpathSync(fsPath(planned.to), { encoding: 'latin1' });
    const aside = joinRaw(to, baseName(planned.asideFolder));
    for (const rel of planned.keepAside) {
      try {
        keepOne(joinRaw(to, rel), joinRaw(aside, rel));
        keptAside.push({ path: joinRaw(planned.to, rel), keptAs: joinRaw(planned.asideFolder, rel) });
      } catch (err) {
        const { code, message } = errorData(err);
        failures.push({ path: displayPath(joinRaw(planned.to, rel)), code, message: `not restored: could not be kept aside (${message})` });
        notKept.push(rel);
      }
    }
  }
  const plan = notKept.length === 0 ? planned.plan : withoutSubtrees(planned.plan, notKept);
  return { execution: await execute(plan), keptAside, failures };
}

function checkTarget(to: RawPath, overwrite: boolean): void {
  let names: string[];
  try {
    names = fs.readdirSync(fsPath(to));
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') throw new UsageError(`--to ${displayPath(to)} is not a folder`);
    throw new UsageError(`--to ${displayPath(to)} cannot be read (${code ?? 'error'})`);
  }
  if (names.length > 0 && !overwrite) {
    throw new UsageError(`--to ${displayPath(to)} is not empty; add --overwrite to restore into it (every file replaced is kept aside)`, 'ENOTEMPTY');
  }
}

/** Refuses a plan that writes inside `avoid` or replaces a folder above it (that would move it away). */
function checkAvoids(plan: Plan, avoid: RawPath, to: RawPath): void {
  for (const action of plan.actions) {
    const inside = action.rel === avoid || action.rel.startsWith(`${avoid}/`);
    const replacesAbove = avoid.startsWith(`${action.rel}/`) && action.type !== 'mkdir' && action.type !== 'set-meta';
    if (inside || replacesAbove) {
      throw new UsageError(`restoring ${displayPath(joinRaw(to, action.rel))} would write into the snapshot dest ${displayPath(joinRaw(to, avoid))}`, 'EINSIDEDEST');
    }
  }
}

function topLevel(tree: Tree): RawPath[] {
  return [...tree.entries.keys()].filter((rel) => rel !== '' && !rel.includes('/'));
}

/** The entries of `to` that the plan would replace or remove: each is kept aside first. */
function replacedEntries(plan: Plan, target: Tree): RawPath[] {
  const replaced = new Set<RawPath>();
  for (const action of plan.actions) {
    if (replaces(action, target.entries.get(action.rel))) replaced.add(action.rel);
  }
  return [...replaced];
}

function replaces(action: Action, existing: Entry | undefined): boolean {
  if (existing === undefined) return false;
  switch (action.type) {
    case 'remove':
    case 'copy':
    case 'reuse':
    case 'symlink':
    case 'hardlink':
      return true;
    case 'remove-temp':
    case 'mkdir':
    case 'set-meta':
    case 'set-xattrs':
      return false;
  }
}

/**
 * A hard link keeps the original at its place until the restored file is renamed over it; folders, and
 * filesystems or entries that refuse a link, are renamed aside instead.
 */
function keepOne(original: RawPath, keptAs: RawPath): void {
  fs.mkdirSync(fsPath(parentRel(keptAs)), { recursive: true, mode: 0o700 });
  withPinnedParent(original, (pinned) => {
    if (!fs.lstatSync(fsPath(pinned)).isDirectory()) {
      try {
        fs.linkSync(fsPath(pinned), fsPath(keptAs));
        return;
      } catch {
        // EXDEV (a mount below `to`), EPERM (no hard links there), EMLINK: move it instead.
      }
    }
    fs.renameSync(fsPath(pinned), fsPath(keptAs));
  });
}

/** `.backupd-restore-2026-12-02T014500Z`, or -1, -2 … when a restore in the same second made one. */
function asideName(to: RawPath, now: Date): string {
  // Only a restore that replaces something names one, so `to` exists.
  const names = fs.readdirSync(fsPath(to), { encoding: 'latin1' });
  const taken = new Set(names.filter((n) => n.startsWith(ASIDE_PREFIX)).map((n) => n.slice(ASIDE_PREFIX.length)));
  return `${ASIDE_PREFIX}${freshTimeName(now, taken)}`;
}

function withoutSubtrees(plan: Plan, rels: readonly RawPath[]): Plan {
  const inside = (rel: RawPath) => rels.some((r) => rel === r || rel.startsWith(`${r}/`));
  return { ...plan, actions: plan.actions.filter((a) => !inside(a.rel)) };
}
