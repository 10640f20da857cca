/**
 * What the planner works on and produces. All paths here are raw (byte-string) paths relative to a
 * tree's root; '' is the root itself.
 */
import type { EntryFailure, EntryWarning } from '../common/errors.js';
import type { RawPath } from '../common/raw-path.js';

/** Metadata kept for every entry that is copied. Times are milliseconds with sub-ms fractions. */
export interface Meta {
  readonly mode: number;
  readonly mtimeMs: number;
  readonly atimeMs: number;
  /** Bumped by every change of content, mode, owner or extended attributes: the cheap test before comparing attributes. */
  readonly ctimeMs: number;
  readonly uid: number;
  readonly gid: number;
}

export interface FileEntry extends Meta {
  readonly kind: 'file';
  readonly rel: RawPath;
  readonly size: number;
  readonly ino: number;
  readonly dev: number;
  /** Hard links to the same inode; above 1, --hard-links keeps them linked in dest. */
  readonly nlink: number;
}

export interface DirEntry extends Meta {
  readonly kind: 'dir';
  readonly rel: RawPath;
  /** The filesystem it is on: a folder on another one than the root's is a mount point (-x). */
  readonly dev: number;
}

export interface SymlinkEntry extends Meta {
  readonly kind: 'symlink';
  readonly rel: RawPath;
  readonly target: RawPath;
}

/** FIFOs, sockets and devices: listed so they can be reported, never opened. */
export interface SpecialEntry {
  readonly kind: 'special';
  readonly rel: RawPath;
  readonly type: 'fifo' | 'socket' | 'character device' | 'block device';
}

export type Entry = FileEntry | DirEntry | SymlinkEntry | SpecialEntry;

/** A walked tree, in pre-order (every folder before its contents). */
export interface Tree {
  readonly root: RawPath;
  readonly entries: ReadonlyMap<RawPath, Entry>;
  /** Leftover temporaries of a killed run (dest trees only). */
  readonly temps: readonly RawPath[];
  /** Folders that could not be listed, entries that could not be inspected. */
  readonly failures: readonly EntryFailure[];
}

/** `meta`: only mode, owner or mtime differ, but dest's inode is shared (a snapshot links it): never changed in place. */
export type CopyReason = 'new' | 'size' | 'mtime' | 'type' | 'checksum' | 'meta';

/** Why the dest entry in the way of a write is removed first. */
export type RemoveReason = 'type-changed' | 'deleted';

export type Action =
  | { readonly type: 'remove-temp'; readonly rel: RawPath }
  /** Removes a dest entry: before writes when its type changed, after all copies for --delete. */
  | { readonly type: 'remove'; readonly rel: RawPath; readonly kind: 'file' | 'dir' | 'symlink' | 'special'; readonly reason: RemoveReason }
  | { readonly type: 'mkdir'; readonly rel: RawPath }
  | { readonly type: 'copy'; readonly rel: RawPath; readonly reason: CopyReason; readonly source: FileEntry; readonly skipIfSameContent: boolean }
  | { readonly type: 'symlink'; readonly rel: RawPath; readonly source: SymlinkEntry }
  /**
   * A file dest already holds elsewhere (a folder moved in the source): link `rel` to `fromRel` below the
   * executor's reuse root (the previous snapshot) instead of copying it again; copied if the link fails.
   */
  | { readonly type: 'reuse'; readonly rel: RawPath; readonly fromRel: RawPath; readonly source: FileEntry }
  /** --hard-links: link `rel` to the dest file at `targetRel`, which this run copies or already holds. */
  | { readonly type: 'hardlink'; readonly rel: RawPath; readonly targetRel: RawPath }
  /** Mode, times and (as root) owner of an entry whose content is current; folders after their contents. */
  | { readonly type: 'set-meta'; readonly rel: RawPath; readonly source: FileEntry | DirEntry }
  /**
   * Extended attributes (ACLs, capabilities) of an entry whose content is current, compared with the
   * source's and updated in place where they differ; after the entry's set-meta (chown clears
   * security.capability, chmod rewrites an ACL's mask). A change of its own, so that a rule about shared
   * inodes can route it.
   */
  | { readonly type: 'set-xattrs'; readonly rel: RawPath; readonly kind: 'file' | 'dir' };

export type ActionType = Action['type'];
export type ActionOf<T extends ActionType> = Extract<Action, { type: T }>;

/**
 * Files dest already holds under another path, found by the source file's identity (device, inode, size,
 * mtime, mode) as recorded when they were backed up: the previous snapshot's manifest.
 */
export interface ReusableFiles {
  /** Where below the reuse root the same content lies, or undefined. */
  find(source: FileEntry): RawPath | undefined;
}

export interface Plan {
  readonly actions: readonly Action[];
  /** Regular files in the source (after excludes). */
  readonly filesTotal: number;
  readonly filesSkipped: number;
  /** Files to be linked from the reuse root instead of copied (`reuse` actions). */
  readonly filesReused: number;
  /** Files the plan refuses to write (a folder in the way without --delete); listed in `failures`. */
  readonly filesRefused: number;
  readonly bytesToCopy: number;
  readonly warnings: readonly EntryWarning[];
  /** Entries the plan refuses to touch (a folder in dest where the source has a file, without --delete). */
  readonly failures: readonly EntryFailure[];
}
