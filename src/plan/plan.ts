/**
 * The planner: two walked trees in, an ordered list of actions out. Pure: it reads nothing from disk,
 * so every decision about what a run will do can be tested with literal trees.
 *
 * The action list is in execution order, phase by phase:
 *   remove-temp → remove (type changed) → mkdir → reuse → copy → hardlink → symlink → set-meta, set-xattrs
 *   (files) → remove (--delete) → set-meta, set-xattrs (folders, deepest first, so writing a child cannot
 *   disturb a parent's mtime)
 */
import type { EntryFailure, EntryWarning } from '../common/errors.js';
import { displayPath, joinRaw, parentRel, type RawPath } from '../common/raw-path.js';
import { attributesMayDiffer, copyReason, metaDiffers, type CompareMode } from './compare.js';
import type { Action, ActionOf, CopyReason, DirEntry, Entry, FileEntry, Plan, ReusableFiles, SymlinkEntry, Tree } from './types.js';

export interface PlanOptions {
  readonly compare: CompareMode;
  /** Remove dest entries that are not in the source (and folders in the way of a file or symlink). */
  readonly delete: boolean;
  /** Compare and restore owners (only meaningful when running as root). */
  readonly keepOwner: boolean;
  /** Keep hard-linked source files linked in dest (one copy, then links) instead of separate copies. */
  readonly hardLinks?: boolean;
  /**
   * Replace a dest folder where the source has a file or symlink even without `delete` (restore does,
   * after keeping the folder aside). Default: only with `delete`.
   */
  readonly replaceFolders?: boolean;
  /** Copy extended attributes: new files get them with the copy, current entries a set-xattrs where they may differ. */
  readonly xattrs?: boolean;
  /** Dest entries matching the source's exclusion rules are never deleted. */
  readonly isExcluded?: (rel: RawPath, isDir: boolean) => boolean;
  /**
   * Snapshot dests: a dest file with more than one link shares its inode with snapshots, so a change of
   * mode, owner or mtime alone becomes a new copy (reason `meta`) instead of a set-meta that would rewrite
   * every snapshot's history.
   */
  readonly protectLinkedInodes?: boolean;
  /** Files that must be copied but that dest holds elsewhere already: linked from there (`reuse`). */
  readonly reusable?: ReusableFiles;
}

interface Phases {
  removeTemps: ActionOf<'remove-temp'>[];
  replaces: ActionOf<'remove'>[];
  mkdirs: ActionOf<'mkdir'>[];
  reuses: ActionOf<'reuse'>[];
  copies: ActionOf<'copy'>[];
  hardlinks: ActionOf<'hardlink'>[];
  symlinks: ActionOf<'symlink'>[];
  fileMeta: (ActionOf<'set-meta'> | ActionOf<'set-xattrs'>)[];
  deletes: ActionOf<'remove'>[];
  dirMeta: (ActionOf<'set-meta'> | ActionOf<'set-xattrs'>)[];
}

export function buildPlan(source: Tree, dest: Tree, options: PlanOptions): Plan {
  const phases: Phases = {
    removeTemps: dest.temps.map((rel) => ({ type: 'remove-temp', rel })),
    replaces: [],
    mkdirs: [],
    reuses: [],
    copies: [],
    hardlinks: [],
    symlinks: [],
    fileMeta: [],
    deletes: [],
    dirMeta: [],
  };
  const warnings: EntryWarning[] = [];
  const failures: EntryFailure[] = [];
  const firstLinks = new FirstLinks();
  let filesTotal = 0;
  let filesSkipped = 0;
  let filesReused = 0;
  let filesRefused = 0;
  let bytesToCopy = 0;

  const mayReplaceFolder = options.delete || options.replaceFolders === true;
  const refuseFolderReplacement = (rel: RawPath) =>
    failures.push({
      path: displayPath(joinRaw(dest.root, rel)),
      code: 'EISDIR',
      message: 'is a folder in dest but not in the source; rerun with --delete to replace it',
    });

  for (const entry of source.entries.values()) {
    const existing = dest.entries.get(entry.rel);
    switch (entry.kind) {
      case 'dir':
        planFolder(entry, existing, phases);
        break;
      case 'file': {
        filesTotal++;
        if (existing?.kind === 'dir' && !mayReplaceFolder) {
          refuseFolderReplacement(entry.rel);
          filesRefused++;
          break;
        }
        const linkTarget = options.hardLinks ? firstLinks.claim(entry) : undefined;
        if (linkTarget !== undefined) {
          planHardLink(entry, existing, linkTarget, dest, phases);
          filesSkipped++;
          break;
        }
        const outcome = planFile(entry, existing, options, phases);
        if (outcome === 'copy') bytesToCopy += entry.size;
        else if (outcome === 'reuse') filesReused++;
        else filesSkipped++;
        break;
      }
      case 'symlink':
        if (existing?.kind === 'dir' && !mayReplaceFolder) refuseFolderReplacement(entry.rel);
        else planSymlink(entry, existing, phases);
        break;
      case 'special':
        warnings.push({
          path: displayPath(joinRaw(source.root, entry.rel)),
          code: 'ESPECIAL',
          message: `skipped: a ${entry.type} is not a file and is never opened`,
        });
        break;
    }
  }
  // A source folder that could not be listed looks empty: deleting its backup would turn a read error into
  // data loss. Deletes wait for a run that reads the whole source.
  if (options.delete && source.failures.length > 0) {
    warnings.push({
      path: displayPath(dest.root),
      code: 'EINCOMPLETE',
      message: 'deletes skipped because part of the source could not be read',
    });
  } else if (options.delete) {
    planDeletes(source, dest, options, phases);
  }
  addTouchedFolderMeta(source, dest, phases, options);

  const actions: Action[] = [
    ...phases.removeTemps,
    ...phases.replaces,
    ...phases.mkdirs,
    ...phases.reuses,
    ...phases.copies,
    ...phases.hardlinks,
    ...phases.symlinks,
    ...phases.fileMeta,
    ...phases.deletes,
    ...phases.dirMeta,
  ];
  return { actions, filesTotal, filesSkipped, filesReused, filesRefused, bytesToCopy, warnings, failures };
}

function planFolder(entry: DirEntry, existing: Entry | undefined, phases: Phases): void {
  if (entry.rel === '' || existing?.kind === 'dir') return;
  if (existing !== undefined) phases.replaces.push({ type: 'remove', rel: entry.rel, kind: existing.kind, reason: 'type-changed' });
  phases.mkdirs.push({ type: 'mkdir', rel: entry.rel });
}

/** What becomes of one source file: copied, linked from where dest holds it already, or left as it is. */
function planFile(entry: FileEntry, existing: Entry | undefined, options: PlanOptions, phases: Phases): 'copy' | 'reuse' | 'skip' {
  const reason = fileCopyReason(entry, existing, options);
  if (reason === undefined) {
    if (existing?.kind !== 'file') return 'skip';
    if (metaDiffers(entry, existing, options.keepOwner)) phases.fileMeta.push({ type: 'set-meta', rel: entry.rel, source: entry });
    if (options.xattrs && attributesMayDiffer(entry, existing)) phases.fileMeta.push({ type: 'set-xattrs', rel: entry.rel, kind: 'file' });
    return 'skip';
  }
  // A folder in the way is removed first; a file, symlink or FIFO is replaced by the rename itself.
  if (existing?.kind === 'dir') phases.replaces.push({ type: 'remove', rel: entry.rel, kind: 'dir', reason: 'type-changed' });
  const fromRel = reason === 'checksum' ? undefined : options.reusable?.find(entry);
  if (fromRel !== undefined) {
    phases.reuses.push({ type: 'reuse', rel: entry.rel, fromRel, source: entry });
    return 'reuse';
  }
  phases.copies.push({ type: 'copy', rel: entry.rel, reason, source: entry, skipIfSameContent: reason === 'checksum' });
  return 'copy';
}

/**
 * copyReason, plus the snapshot rule: dest's inode is shared with snapshots, so metadata or extended
 * attributes that differ (and, with --checksum, an equal-content check that would refresh them in place)
 * mean a new copy.
 */
function fileCopyReason(entry: FileEntry, existing: Entry | undefined, options: PlanOptions): CopyReason | undefined {
  const reason = copyReason(entry, existing, options.compare);
  const shared = options.protectLinkedInodes === true && existing?.kind === 'file' && existing.nlink > 1;
  if (!shared || (reason !== undefined && reason !== 'checksum')) return reason;
  const attributes = options.xattrs === true && attributesMayDiffer(entry, existing);
  return metaDiffers(entry, existing, options.keepOwner) || attributes ? 'meta' : reason;
}

/** Remembers the first path seen of every multiply-linked inode; later paths become links to it. */
class FirstLinks {
  private readonly firstByInode = new Map<string, RawPath>();

  /** The path this entry should be linked to, or undefined when it is the first (to be copied). */
  claim(entry: FileEntry): RawPath | undefined {
    if (entry.nlink < 2) return undefined;
    const key = `${entry.dev}:${entry.ino}`;
    const first = this.firstByInode.get(key);
    if (first === undefined) this.firstByInode.set(key, entry.rel);
    return first;
  }
}

/** Links in dest unless dest already has the two paths as one inode. */
function planHardLink(entry: FileEntry, existing: Entry | undefined, targetRel: RawPath, dest: Tree, phases: Phases): void {
  const target = dest.entries.get(targetRel);
  const alreadyLinked = existing?.kind === 'file' && target?.kind === 'file' && existing.ino === target.ino && existing.dev === target.dev;
  if (alreadyLinked) return;
  if (existing?.kind === 'dir') phases.replaces.push({ type: 'remove', rel: entry.rel, kind: 'dir', reason: 'type-changed' });
  phases.hardlinks.push({ type: 'hardlink', rel: entry.rel, targetRel });
}

function planSymlink(entry: SymlinkEntry, existing: Entry | undefined, phases: Phases): void {
  if (existing?.kind === 'symlink' && existing.target === entry.target) return;
  if (existing?.kind === 'dir') phases.replaces.push({ type: 'remove', rel: entry.rel, kind: 'dir', reason: 'type-changed' });
  phases.symlinks.push({ type: 'symlink', rel: entry.rel, source: entry });
}

/**
 * Topmost dest entries that the source lacks; their contents go with them. Only entries whose parent is a
 * folder in the source qualify: below a deleted folder everything goes with it, and below a folder that
 * became a file or symlink the type change already removed it all (a later delete of `a/x` would go
 * through the new symlink `a` and remove a file outside dest).
 */
function planDeletes(source: Tree, dest: Tree, options: PlanOptions, phases: Phases): void {
  for (const entry of dest.entries.values()) {
    if (entry.rel === '' || source.entries.has(entry.rel)) continue;
    if (source.entries.get(parentRel(entry.rel))?.kind !== 'dir') continue;
    if (options.isExcluded?.(entry.rel, entry.kind === 'dir')) continue;
    phases.deletes.push({ type: 'remove', rel: entry.rel, kind: entry.kind, reason: 'deleted' });
  }
}

/**
 * Folders get mode and mtime after their contents: a folder that is new, differs, or has a child written
 * or removed in this run (which bumps its mtime). Deepest first.
 */
function addTouchedFolderMeta(source: Tree, dest: Tree, phases: Phases, options: PlanOptions): void {
  const touched = new Set<RawPath>();
  const writes: readonly (readonly Action[])[] = [
    phases.removeTemps,
    phases.replaces,
    phases.mkdirs,
    phases.reuses,
    phases.copies,
    phases.hardlinks,
    phases.symlinks,
    phases.deletes,
  ];
  for (const list of writes) for (const action of list) touched.add(parentRel(action.rel));
  for (const mkdir of phases.mkdirs) touched.add(mkdir.rel);

  const folders = [...source.entries.values()].filter((e): e is DirEntry => e.kind === 'dir');
  for (let i = folders.length - 1; i >= 0; i--) {
    const folder = folders[i] as DirEntry;
    const existing = dest.entries.get(folder.rel);
    const differs = existing?.kind !== 'dir' || metaDiffers(folder, existing, options.keepOwner);
    if (differs || touched.has(folder.rel)) phases.dirMeta.push({ type: 'set-meta', rel: folder.rel, source: folder });
    // After its contents: a default ACL set earlier would be inherited by every temporary made inside.
    if (options.xattrs && (existing?.kind !== 'dir' || attributesMayDiffer(folder, existing))) {
      phases.dirMeta.push({ type: 'set-xattrs', rel: folder.rel, kind: 'dir' });
    }
  }
}
