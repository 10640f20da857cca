/**
 * Restore: a backup from a source (a snapshot folder, streamed a batch of folders at a time; an object
 * store's listing, planned whole) into a folder, through the same planner and executor as `backup`, so
 * every entry lands atomically with its mode, times, symlinks and (as root) owner. What restore adds is
 * keeping the user's files: every entry in the target that a plan would replace is first kept in
 * `<to>/.backupd-restore-<UTC time>/<same path>`, by a hard link where possible (the original stays at
 * its place until the restored file is renamed over it) or by a rename (folders, filesystems without
 * links), just before that plan runs. Files already equal to the source's (size and mtime) are not
 * planned at all, so a rerun restores and keeps aside nothing new. Only what the source has is looked at
 * in the target: the rest of the user's folder is none of restore's business.
 */
import fs from 'node:fs';
import { UsageError, errorData, errnoCode, type EntryFailure } from '../common/errors.js';
import { baseName, displayPath, fsPath, isAtOrBelow, joinRaw, parentRel, type RawPath } from '../common/raw-path.js';
import { freshTimeName } from '../common/time-name.js';
import { withPinnedParent } from '../copy/confine.js';
import type { Action, Plan } from '../plan/types.js';
import type { BatchHooks, StreamedBackup, StreamExecution } from './stream.js';

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
  /** Names the keep-aside folder. Default: the clock. */
  readonly now?: Date;
}

/** Where a restore reads from, planned into the target the source's way (a folder batch at a time, or whole). */
export interface RestoreSource {
  /** Every plan handed to `show`; nothing is written. */
  preview(show: (plan: Plan) => void): Promise<StreamedBackup>;
  /** Plans and executes; `hooks.planned` sees each plan before it runs, and what it returns runs. */
  sync(execution: StreamExecution, hooks: BatchHooks): Promise<StreamedBackup>;
}

export interface RestoreOutcome {
  readonly synced: StreamedBackup;
  readonly keptAside: readonly KeptAside[];
  /** `<to>/.backupd-restore-<time>`; undefined when nothing was (or would be) kept aside. */
  readonly asideFolder: RawPath | undefined;
  /** Keep-aside failures: their entries were left as they were, not restored. */
  readonly failures: readonly EntryFailure[];
}

export interface KeptAside {
  readonly path: RawPath;
  readonly keptAs: RawPath;
}

/** Runs the restore, keeping aside what each plan replaces right before it runs. */
export async function restoreInto(source: RestoreSource, target: RestoreTarget, execution: StreamExecution, hooks: BatchHooks = {}): Promise<RestoreOutcome> {
  const aside = new KeepAside(target.to, target.now ?? new Date());
  const synced = await source.sync(execution, {
    ...hooks,
    planned: (plan) => {
      const kept = aside.keep(plan);
      return hooks.planned?.(kept) ?? kept;
    },
  });
  return { synced, keptAside: aside.kept, asideFolder: aside.folder, failures: aside.failures };
}

/** A dry run: each plan shown with what it would keep aside (and where); nothing is written. */
export async function previewRestore(source: RestoreSource, target: RestoreTarget, show: (plan: Plan, keptAside: readonly KeptAside[]) => void): Promise<RestoreOutcome> {
  const aside = new KeepAside(target.to, target.now ?? new Date());
  const synced = await source.preview((plan) => show(plan, aside.wouldKeep(plan)));
  return { synced, keptAside: [], asideFolder: aside.folder, failures: [] };
}

/** Refuses a `to` that is not a folder, or that is not empty unless `overwrite`. */
export function checkTarget(to: RawPath, overwrite: boolean): void {
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

/**
 * The keep-aside folder of one restore, made when the first entry is kept. What could not be kept aside is
 * left as it was: its actions, and those of everything below it in later plans, do not run.
 */
class KeepAside {
  readonly kept: KeptAside[] = [];
  readonly failures: EntryFailure[] = [];
  /** `<to>/.backupd-restore-<time>`, named when the first entry needs it. */
  folder: RawPath | undefined;
  private readonly notKept: RawPath[] = [];
  /** `to`'s real path: the executor writes below it (copy/confine.ts pins every parent), and so does this. */
  private toReal: RawPath | undefined;

  constructor(
    private readonly to: RawPath,
    private readonly now: Date,
  ) {}

  keep(plan: Plan): Plan {
    for (const rel of this.replaced(plan)) {
      const asideFolder = this.asideFolder();
      try {
        keepOne(joinRaw(this.realTo(), rel), joinRaw(joinRaw(this.realTo(), baseName(asideFolder)), rel));
        this.kept.push({ path: joinRaw(this.to, rel), keptAs: joinRaw(asideFolder, rel) });
      } catch (err) {
        const { code, message } = errorData(err);
        this.failures.push({ path: displayPath(joinRaw(this.to, rel)), code, message: `not restored: could not be kept aside (${message})` });
        this.notKept.push(rel);
      }
    }
    if (this.notKept.length === 0) return plan;
    return { ...plan, actions: plan.actions.filter((a) => !this.notKept.some((top) => isAtOrBelow(a.rel, top))) };
  }

  wouldKeep(plan: Plan): KeptAside[] {
    return this.replaced(plan).map((rel) => ({ path: joinRaw(this.to, rel), keptAs: joinRaw(this.asideFolder(), rel) }));
  }

  /** The entries of `to` (relative) that the plan replaces or removes, once each, in plan order. */
  private replaced(plan: Plan): RawPath[] {
    const replaced = new Set<RawPath>();
    for (const action of plan.actions) {
      if (!replaced.has(action.rel) && this.replaces(action)) replaced.add(action.rel);
    }
    return [...replaced];
  }

  private replaces(action: Action): boolean {
    switch (action.type) {
      case 'remove':
        return true;
      case 'copy':
        return action.reason !== 'new';
      case 'reuse':
      case 'symlink':
      case 'hardlink':
        return this.exists(action.rel);
      case 'remove-temp':
      case 'mkdir':
      case 'set-meta':
      case 'set-xattrs':
        return false;
    }
  }

  private exists(rel: RawPath): boolean {
    try {
      fs.lstatSync(fsPath(joinRaw(this.realTo(), rel)));
      return true;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return false;
      throw err;
    }
  }

  private realTo(): RawPath {
    try {
      this.toReal ??= fs.realpathSync(fsPath(this.to), { encoding: 'latin1' });
    } catch (err) {
      // A dry run into a folder yet to be made: nothing in it can be replaced.
      if (errnoCode(err) !== 'ENOENT') throw err;
      return this.to;
    }
    return this.toReal;
  }

  private asideFolder(): RawPath {
    this.folder ??= joinRaw(this.to, asideName(this.to, this.now));
    return this.folder;
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
  let names: string[] = [];
  try {
    names = fs.readdirSync(fsPath(to), { encoding: 'latin1' });
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
  const taken = new Set(names.filter((n) => n.startsWith(ASIDE_PREFIX)).map((n) => n.slice(ASIDE_PREFIX.length)));
  return `${ASIDE_PREFIX}${freshTimeName(now, taken)}`;
}
