/**
 * The executor: runs a Plan against dest. Folder and link work is cheap and happens here on the main
 * thread; file copies go to the pool in batches. Every per-entry problem becomes a failure or a warning
 * in the report; nothing is thrown for one entry.
 *
 * Safety rules kept here:
 *  - new folders start 0700 and get their real mode only after their contents are written;
 *  - deletes run only if no copy failed, so a failed copy never costs the user the old copy as well;
 *  - when the disk is full, no new copy starts (workers see a shared stop flag) and deletes are skipped;
 *  - every write goes through its parent folder pinned and checked to be inside dest (confine.ts).
 */
import fs from 'node:fs';
import { tempRelFor } from '../common/atomic.js';
import { errnoCode, errorData, type EntryFailure, type EntryWarning } from '../common/errors.js';
import { displayPath, fsPath, joinRaw, parentRel, type RawPath } from '../common/raw-path.js';
import { sameMtime } from '../plan/compare.js';
import type { Action, ActionOf, Plan, SymlinkEntry } from '../plan/types.js';
import { walkTree } from '../plan/walk.js';
import { NO_PROGRESS, type ProgressSink } from '../progress/events.js';
import { makeBatches } from './batches.js';
import { makeFoldersBelow, withPinnedParent } from './confine.js';
import { applyMetaAt } from './copy-file.js';
import type { CopyPool } from './pool.js';
import type { CopySettings, FileJob, FileResult } from './types.js';
import { copyXattrsBetween, problemText, type AttributeProblem } from './xattrs.js';

export interface ExecuteOptions {
  readonly sourceRoot: RawPath;
  readonly destRoot: RawPath;
  readonly pool: CopyPool;
  readonly settings: CopySettings;
  readonly progress?: ProgressSink;
  /** Set by the caller to stop starting new copies (shutdown); also set on a full disk. */
  readonly stop?: StopFlag;
  /** Where the `fromRel` of `reuse` actions lies (the previous snapshot). Required when the plan has any. */
  readonly reuseRoot?: RawPath;
  /**
   * Before a dest file is replaced or removed, link it (no copy) to `relFor(rel)` below `root` (the watch
   * daemon's versions/, a real path), folders made and the link placed through checked parents
   * (confine.ts). A file that cannot be kept so is not replaced either: it becomes a failure.
   */
  readonly keepReplaced?: { readonly root: RawPath; readonly relFor: (rel: RawPath) => RawPath };
}

export interface ExecutionReport {
  readonly filesCopied: number;
  /** Copies that turned out unnecessary: identical content (--checksum), or the file vanished. */
  readonly filesSkipped: number;
  readonly filesFailed: number;
  readonly bytesCopied: number;
  /** `reuse` actions done: files linked from the reuse root instead of copied. */
  readonly filesLinked: number;
  /** `reuse` links refused (EMLINK, …) and copied instead. */
  readonly linksRefused: number;
  readonly failures: readonly EntryFailure[];
  readonly warnings: readonly EntryWarning[];
  /** The copy results, for callers that log per file (watch). */
  readonly results: readonly FileResult[];
  readonly deletesSkipped: boolean;
}

/** A flag shared with the workers: non-zero means start no new file. */
export class StopFlag {
  readonly buffer = new SharedArrayBuffer(4);
  private readonly view = new Int32Array(this.buffer);
  set(): void {
    Atomics.store(this.view, 0, 1);
  }
  get isSet(): boolean {
    return Atomics.load(this.view, 0) !== 0;
  }
}

const IN_FLIGHT_PER_THREAD = 2;

/** Actions that come before the copies in a plan (see plan.ts); everything after waits for the copies. */
const BEFORE_COPIES: ReadonlySet<Action['type']> = new Set(['remove-temp', 'mkdir', 'reuse']);

export async function executePlan(plan: Plan, options: ExecuteOptions): Promise<ExecutionReport> {
  const state = new RunState(options);
  const copies: ActionOf<'copy'>[] = [];
  for (const action of plan.actions) if (action.type === 'copy') copies.push(action);

  let copiesDone = false;
  const runCopiesOnce = async (): Promise<void> => {
    if (!copiesDone) await state.runCopies([...copies, ...state.reuseFallbacks]);
    copiesDone = true;
  };
  for (const action of plan.actions) {
    if (action.type === 'copy') {
      await runCopiesOnce();
      continue;
    }
    const isBeforeCopies = BEFORE_COPIES.has(action.type) || (action.type === 'remove' && action.reason === 'type-changed');
    if (!isBeforeCopies) await runCopiesOnce();
    if (action.type === 'remove' && action.reason === 'deleted' && state.hasFailures) {
      state.deletesSkipped = true;
      continue;
    }
    if (action.type === 'reuse') state.reuse(action);
    else state.runLocal(action);
  }
  await runCopiesOnce();
  return state.report();
}

class RunState {
  readonly failures: EntryFailure[] = [];
  readonly warnings: EntryWarning[] = [];
  readonly results: FileResult[] = [];
  /** Reuse links that failed: copied with the other copies instead. */
  readonly reuseFallbacks: ActionOf<'copy'>[] = [];
  deletesSkipped = false;
  private filesLinked = 0;
  private linksRefused = 0;
  private filesCopied = 0;
  private filesSkipped = 0;
  private filesFailed = 0;
  private filesNotStarted = 0;
  private bytesCopied = 0;
  private readonly stop: StopFlag;

  constructor(private readonly options: ExecuteOptions) {
    this.stop = options.stop ?? new StopFlag();
  }

  get hasFailures(): boolean {
    return this.failures.length > 0;
  }

  dest(rel: RawPath): RawPath {
    return joinRaw(this.options.destRoot, rel);
  }

  fail(rel: RawPath, err: unknown): void {
    this.failures.push({ path: displayPath(this.dest(rel)), ...errorData(err) });
  }

  async runCopies(planned: readonly ActionOf<'copy'>[]): Promise<void> {
    const { pool, settings } = this.options;
    const progress = this.options.progress ?? NO_PROGRESS;
    const copies = planned.filter((action) => action.reason === 'new' || action.reason === 'type' || this.keepVersion(action.rel, 'file'));
    // Jobs (with their absolute paths) are made per batch as it is sent, not all up front: at a million
    // files the queued jobs cost ~350 MiB (measured: peak RSS 346 -> 278 MiB for 200,000 files).
    const sized = copies.map((action) => ({ size: action.source.size, action }));
    const batches = makeBatches(sized, pool.threads);
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < batches.length) {
        const batch = batches[next++] as typeof sized;
        if (this.stop.isSet) {
          for (const { action } of batch) this.record({ rel: action.rel, status: 'not-started' });
          continue;
        }
        const jobs = batch.map(({ action }) => this.toJob(action));
        const results = await pool.run(jobs, settings, this.stop.buffer, progress);
        for (const result of results) this.record(result);
      }
    };
    await Promise.all(Array.from({ length: pool.threads * IN_FLIGHT_PER_THREAD }, lane));
  }

  private toJob(action: ActionOf<'copy'>): FileJob {
    return {
      rel: action.rel,
      src: joinRaw(this.options.sourceRoot, action.rel),
      dst: this.dest(action.rel),
      skipIfSameContent: action.skipIfSameContent,
      scanned: { size: action.source.size, mtimeMs: action.source.mtimeMs },
    };
  }

  private record(result: FileResult): void {
    this.results.push(result);
    switch (result.status) {
      case 'copied':
        this.noteAttributeProblems(result.rel, result.attributeProblems);
        this.filesCopied++;
        this.bytesCopied += result.bytes;
        if (result.changedSinceScan) this.warn(result.rel, 'ECHANGED', 'changed since the scan; copied as it is now');
        break;
      case 'unchanged':
        this.noteAttributeProblems(result.rel, result.attributeProblems);
        this.filesSkipped++;
        break;
      case 'vanished':
        this.filesSkipped++;
        this.warn(result.rel, result.code, result.message);
        break;
      case 'failed': {
        const root = result.side === 'dest' ? this.options.destRoot : this.options.sourceRoot;
        this.filesFailed++;
        this.failures.push({ path: displayPath(joinRaw(root, result.rel)), code: result.code, message: result.message });
        // Out of space: every further copy would fail the same way.
        if (result.code === 'ENOSPC') this.stop.set();
        break;
      }
      case 'not-started':
        this.filesNotStarted++;
        break;
    }
  }

  private warn(rel: RawPath, code: string, message: string): void {
    this.warnings.push({ path: displayPath(joinRaw(this.options.sourceRoot, rel)), code, message });
  }

  /**
   * Links a file from the reuse root when it is still what the plan expects there (same size and mtime);
   * anything else (EMLINK, gone, changed) makes it an ordinary copy.
   */
  reuse(action: ActionOf<'reuse'>): void {
    const { reuseRoot } = this.options;
    if (reuseRoot === undefined) throw new Error('a plan with reuse actions needs ExecuteOptions.reuseRoot');
    const from = joinRaw(reuseRoot, action.fromRel);
    try {
      const stat = fs.lstatSync(fsPath(from));
      if (!stat.isFile() || stat.size !== action.source.size || !sameMtime(stat.mtimeMs, action.source.mtimeMs)) {
        throw Object.assign(new Error('no longer the same file'), { code: 'ECHANGED' });
      }
      if (!this.keepVersion(action.rel, 'file')) return;
      withPinnedParent(this.dest(action.rel), (path) => placeHardLink(path, from));
      this.filesLinked++;
    } catch {
      this.linksRefused++;
      this.reuseFallbacks.push({ type: 'copy', rel: action.rel, reason: 'new', source: action.source, skipIfSameContent: false });
    }
  }

  /**
   * With `keepReplaced`: links the dest file at `rel` (or every file below the folder at `rel`) to where
   * its version is kept. False, with a failure recorded, when that did not work: the caller must then
   * leave the file alone. A file already gone needs nothing kept.
   */
  keepVersion(rel: RawPath, kind: 'file' | 'dir' | 'symlink' | 'special'): boolean {
    const { keepReplaced } = this.options;
    if (keepReplaced === undefined || (kind !== 'file' && kind !== 'dir')) return true;
    try {
      for (const fileRel of kind === 'file' ? [rel] : filesBelow(this.options.destRoot, rel)) {
        const kept = keepReplaced.relFor(fileRel);
        makeFoldersBelow(keepReplaced.root, parentRel(kept));
        try {
          withPinnedParent(joinRaw(keepReplaced.root, kept), (path) => fs.linkSync(fsPath(this.dest(fileRel)), fsPath(path)));
        } catch (err) {
          if (errnoCode(err) !== 'ENOENT') throw err;
        }
      }
      return true;
    } catch (err) {
      this.fail(rel, Object.assign(new Error(`not replaced: its version could not be kept (${errorData(err).message})`), { code: errnoCode(err) }));
      return false;
    }
  }

  /** Attributes that could not be copied are warnings (the content is safe), each naming file and attribute. */
  private noteAttributeProblems(rel: RawPath, problems: readonly AttributeProblem[] | undefined): void {
    for (const problem of problems ?? []) {
      const root = problem.side === 'dest' ? this.options.destRoot : this.options.sourceRoot;
      this.warnings.push({ path: displayPath(joinRaw(root, rel)), code: problem.code, message: problemText(problem) });
    }
  }

  runLocal(action: Exclude<Action, ActionOf<'copy'> | ActionOf<'reuse'>>): void {
    if (action.type === 'remove' && !this.keepVersion(action.rel, action.kind)) return;
    // A file replaced by a link: kept like one replaced by a copy (nothing happens where there is none).
    if ((action.type === 'symlink' || action.type === 'hardlink') && !this.keepVersion(action.rel, 'file')) return;
    try {
      withPinnedParent(this.dest(action.rel), (path) => {
        switch (action.type) {
          case 'remove-temp':
          case 'remove':
            fs.rmSync(fsPath(path), { recursive: true, force: true });
            break;
          case 'mkdir':
            makeFolder(path);
            break;
          case 'symlink':
            placeSymlink(path, action.source, this.options.settings.keepOwner);
            break;
          case 'hardlink':
            placeHardLink(path, this.dest(action.targetRel));
            break;
          case 'set-meta':
            applyMetaAt(path, action.source, this.options.settings.keepOwner);
            break;
          case 'set-xattrs':
            this.noteAttributeProblems(action.rel, copyXattrsBetween(joinRaw(this.options.sourceRoot, action.rel), path));
            break;
        }
      });
    } catch (err) {
      this.fail(action.rel, err);
    }
  }

  report(): ExecutionReport {
    if (this.filesNotStarted > 0) {
      this.failures.push({
        path: displayPath(this.options.destRoot),
        code: 'ESTOPPED',
        message: `${this.filesNotStarted} file(s) were not copied because the run stopped early`,
      });
    }
    return {
      filesCopied: this.filesCopied,
      filesSkipped: this.filesSkipped,
      filesFailed: this.filesFailed + this.filesNotStarted,
      bytesCopied: this.bytesCopied,
      filesLinked: this.filesLinked,
      linksRefused: this.linksRefused,
      failures: this.failures,
      warnings: this.warnings,
      results: this.results,
      deletesSkipped: this.deletesSkipped,
    };
  }
}

/** Regular files below the dest folder `rel` (rels), found with a plain walk. */
function filesBelow(destRoot: RawPath, rel: RawPath): RawPath[] {
  const tree = walkTree(joinRaw(destRoot, rel));
  const files: RawPath[] = [];
  for (const entry of tree.entries.values()) if (entry.kind === 'file') files.push(joinRaw(rel, entry.rel));
  return files;
}

/** Private until its contents are in place; its real mode comes with the folder's set-meta. */
function makeFolder(path: RawPath): void {
  try {
    fs.mkdirSync(fsPath(path), { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !fs.lstatSync(fsPath(path)).isDirectory()) throw err;
  }
}

/** Linked under a temporary name and renamed into place, like every other write. */
function placeHardLink(path: RawPath, target: RawPath): void {
  placeViaTemp(path, (temp) => fs.linkSync(fsPath(target), fsPath(temp)));
}

/** A symlink is made under a temporary name and renamed over whatever file or link is at the path. */
function placeSymlink(path: RawPath, source: SymlinkEntry, keepOwner: boolean): void {
  placeViaTemp(path, (temp) => {
    fs.symlinkSync(fsPath(source.target), fsPath(temp));
    if (keepOwner) fs.lchownSync(fsPath(temp), source.uid, source.gid);
    fs.lutimesSync(fsPath(temp), source.atimeMs / 1000, source.mtimeMs / 1000);
  });
}

/** Creates the entry at a temporary name with `create`, then renames it over `path`; no temp survives a failure. */
function placeViaTemp(path: RawPath, create: (temp: RawPath) => void): void {
  const temp = tempRelFor(path);
  try {
    create(temp);
    fs.renameSync(fsPath(temp), fsPath(path));
  } catch (err) {
    fs.rmSync(fsPath(temp), { force: true });
    throw err;
  }
}
