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
  dirMeta: FolderMetaAction[];
}

/** What planning entries fills in, whether the entries come from two whole trees or from a batch of folders. */
class Planning {
  readonly phases: Phases;
  readonly warnings: EntryWarning[] = [];
  readonly failures: EntryFailure[] = [];
  filesTotal = 0;
  filesSkipped = 0;
  filesReused = 0;
  filesRefused = 0;
  bytesToCopy = 0;

  constructor(
    readonly roots: PlanRoots,
    readonly options: PlanOptions,
    readonly links: FirstLinks,
    temps: readonly RawPath[],
  ) {
    this.phases = {
      removeTemps: temps.map((rel) => ({ type: 'remove-temp', rel })),
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
  }

  /** The actions for one source entry against what dest holds at its path (folders: only the folder itself). */
  planEntry(entry: Entry, existing: Entry | undefined): void {
    const { options, phases } = this;
    const mayReplaceFolder = options.delete || options.replaceFolders === true;
    switch (entry.kind) {
      case 'dir':
        planFolder(entry, existing, phases);
        break;
      case 'file': {
        this.filesTotal++;
        if (existing?.kind === 'dir' && !mayReplaceFolder) {
          this.refuseFolderReplacement(entry.rel);
          this.filesRefused++;
          break;
        }
        const first = options.hardLinks ? this.links.claim(entry, existing) : undefined;
        if (first !== undefined) {
          planHardLink(entry, existing, first, phases);
          this.filesSkipped++;
          break;
        }
        const outcome = planFile(entry, existing, options, phases);
        if (outcome === 'copy') this.bytesToCopy += entry.size;
        else if (outcome === 'reuse') this.filesReused++;
        else this.filesSkipped++;
        break;
      }
      case 'symlink':
        if (existing?.kind === 'dir' && !mayReplaceFolder) this.refuseFolderReplacement(entry.rel);
        else planSymlink(entry, existing, phases);
        break;
      case 'special':
        this.warnings.push({
          path: displayPath(joinRaw(this.roots.source, entry.rel)),
          code: 'ESPECIAL',
          message: `skipped: a ${entry.type} is not a file and is never opened`,
        });
        break;
    }
  }

  /** A dest entry the source lacks, in a folder the source has: removed with --delete unless excluded. */
  planDelete(entry: Entry): void {
    if (this.options.isExcluded?.(entry.rel, entry.kind === 'dir')) return;
    this.phases.deletes.push({ type: 'remove', rel: entry.rel, kind: entry.kind, reason: 'deleted' });
  }

  /** Folders whose mtime this plan's writes bump (a child written or removed), and the new ones. */
  touchedFolders(): Set<RawPath> {
    const { phases } = this;
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
    return touched;
  }

  /** The plan, phase by phase; `deletes: false` leaves the deletes out (a streaming run applies them at its end). */
  toPlan({ deletes }: { deletes: boolean }): Plan {
    const { phases } = this;
    const actions: Action[] = [
      ...phases.removeTemps,
      ...phases.replaces,
      ...phases.mkdirs,
      ...phases.reuses,
      ...phases.copies,
      ...phases.hardlinks,
      ...phases.symlinks,
      ...phases.fileMeta,
      ...(deletes ? phases.deletes : []),
      ...phases.dirMeta,
    ];
    const { filesTotal, filesSkipped, filesReused, filesRefused, bytesToCopy, warnings, failures } = this;
    return { actions, filesTotal, filesSkipped, filesReused, filesRefused, bytesToCopy, warnings, failures };
  }

  private refuseFolderReplacement(rel: RawPath): void {
    this.failures.push({
      path: displayPath(joinRaw(this.roots.dest, rel)),
      code: 'EISDIR',
      message: 'is a folder in dest but not in the source; rerun with --delete to replace it',
    });
  }
}

/** The roots of the two trees, for the paths in warnings and failures. */
export interface PlanRoots {
  readonly source: RawPath;
  readonly dest: RawPath;
}

export function buildPlan(source: Tree, dest: Tree, options: PlanOptions): Plan {
  const planning = new Planning({ source: source.root, dest: dest.root }, options, new FirstLinks(), dest.temps);
  for (const entry of source.entries.values()) planning.planEntry(entry, dest.entries.get(entry.rel));
  // A source folder that could not be listed looks empty: deleting its backup would turn a read error into
  // data loss. Deletes wait for a run that reads the whole source.
  if (options.delete && source.failures.length > 0) {
    planning.warnings.push(incompleteScanWarning(dest.root));
  } else if (options.delete) {
    planDeletes(source, dest, planning);
  }
  addTouchedFolderMeta(source, dest, planning);
  return planning.toPlan({ deletes: true });
}

export function incompleteScanWarning(destRoot: RawPath): EntryWarning {
  return { path: displayPath(destRoot), code: 'EINCOMPLETE', message: 'deletes skipped because part of the source could not be read' };
}

/**
 * One source folder's contents and what dest holds in the same folder: the unit of a streaming run, which
 * plans a batch of folders at a time instead of two whole trees.
 */
export interface FolderPair {
  /** The source folder (planned already, with its parent's contents). */
  readonly folder: DirEntry;
  readonly entries: readonly Entry[];
  /** Dest's entries in the same folder, by rel (empty when dest has no folder there). */
  readonly dest: ReadonlyMap<RawPath, Entry>;
  /** Leftover temporaries in dest's folder. */
  readonly temps: readonly RawPath[];
}

export interface BatchPlan {
  /** Every action for the contents of the folders, without the deletes and without folder metadata. */
  readonly plan: Plan;
  /** --delete: what the source lacks, topmost; applied once the whole run is known to have no failure. */
  readonly deletes: readonly ActionOf<'remove'>[];
  /** Folders whose mtime this batch's writes bump: their metadata is set again when their subtree is done. */
  readonly touched: ReadonlySet<RawPath>;
}

/**
 * Plans the contents of a batch of folders, one folder as soon as it is listed: its entries are then
 * garbage (only actions keep what they need) instead of living, and being copied by the young-generation
 * GC, until the whole batch is listed. `links` carries the first path of every multiply-linked inode from
 * batch to batch (the only state --hard-links needs). Folder metadata is not planned here: it comes after
 * a folder's whole subtree (planFolderMeta), which may span several batches.
 */
export class FolderBatchPlanner {
  private readonly planning: Planning;

  constructor(roots: PlanRoots, options: PlanOptions, links: FirstLinks) {
    this.planning = new Planning(roots, options, links, []);
  }

  add(pair: FolderPair): void {
    const { planning } = this;
    for (const rel of pair.temps) planning.phases.removeTemps.push({ type: 'remove-temp', rel });
    for (const entry of pair.entries) planning.planEntry(entry, pair.dest.get(entry.rel));
    if (!planning.options.delete || pair.dest.size === 0) return;
    const inSource = new Set(pair.entries.map((entry) => entry.rel));
    for (const entry of pair.dest.values()) if (!inSource.has(entry.rel)) planning.planDelete(entry);
  }

  finish(): BatchPlan {
    const { planning } = this;
    return { plan: planning.toPlan({ deletes: false }), deletes: planning.phases.deletes, touched: planning.touchedFolders() };
  }
}

/**
 * A folder's mode and mtime (after its contents: when it is new, differs, or a child was written or removed,
 * which bumps its mtime), then its extended attributes (after the contents too: a default ACL set earlier
 * would be inherited by every temporary made inside).
 */
export type FolderMetaAction = ActionOf<'set-meta'> | ActionOf<'set-xattrs'>;

export function planFolderMeta(folder: DirEntry, existing: Entry | undefined, touched: boolean, options: PlanOptions): FolderMetaAction[] {
  const actions: FolderMetaAction[] = [];
  const differs = existing?.kind !== 'dir' || metaDiffers(folder, existing, options.keepOwner);
  if (differs || touched) actions.push({ type: 'set-meta', rel: folder.rel, source: folder });
  if (options.xattrs && (existing?.kind !== 'dir' || attributesMayDiffer(folder, existing))) {
    actions.push({ type: 'set-xattrs', rel: folder.rel, kind: 'dir' });
  }
  return actions;
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

/** The first path seen of a multiply-linked inode, and dest's identity of the file at that path then. */
interface FirstLink {
  readonly rel: RawPath;
  /** `dev:ino` of dest's file at `rel` when it was planned, if it was a file. */
  readonly destInode: string | undefined;
}

/**
 * Remembers the first path seen of every multiply-linked inode; later paths become links to it. Only
 * files with more than one link are kept, so a streaming run holds one small record per such inode.
 */
export class FirstLinks {
  private readonly firstByInode = new Map<string, FirstLink>();

  /** The first path of this entry's inode, or undefined when it is the first (to be copied). */
  claim(entry: FileEntry, existing: Entry | undefined): FirstLink | undefined {
    if (entry.nlink < 2) return undefined;
    const key = inodeKey(entry);
    const first = this.firstByInode.get(key);
    if (first === undefined) this.firstByInode.set(key, { rel: entry.rel, destInode: existing?.kind === 'file' ? inodeKey(existing) : undefined });
    return first;
  }
}

function inodeKey(entry: FileEntry): string {
  return `${entry.dev}:${entry.ino}`;
}

/** Links in dest unless dest already has the two paths as one inode. */
function planHardLink(entry: FileEntry, existing: Entry | undefined, first: FirstLink, phases: Phases): void {
  const alreadyLinked = existing?.kind === 'file' && first.destInode === inodeKey(existing);
  if (alreadyLinked) return;
  if (existing?.kind === 'dir') phases.replaces.push({ type: 'remove', rel: entry.rel, kind: 'dir', reason: 'type-changed' });
  phases.hardlinks.push({ type: 'hardlink', rel: entry.rel, targetRel: first.rel });
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
function planDeletes(source: Tree, dest: Tree, planning: Planning): void {
  for (const entry of dest.entries.values()) {
    if (entry.rel === '' || source.entries.has(entry.rel)) continue;
    if (source.entries.get(parentRel(entry.rel))?.kind !== 'dir') continue;
    planning.planDelete(entry);
  }
}

/** Folder metadata of whole trees: every source folder, deepest first. */
function addTouchedFolderMeta(source: Tree, dest: Tree, planning: Planning): void {
  const touched = planning.touchedFolders();
  const folders = [...source.entries.values()].filter((e): e is DirEntry => e.kind === 'dir');
  for (let i = folders.length - 1; i >= 0; i--) {
    const folder = folders[i] as DirEntry;
    planning.phases.dirMeta.push(...planFolderMeta(folder, dest.entries.get(folder.rel), touched.has(folder.rel), planning.options));
  }
}
