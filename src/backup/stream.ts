/**
 * A backup in bounded memory: the two trees are listed folder by folder, each folder planned as it is
 * listed (the pure planner's FolderBatchPlanner), and a batch of folders at a time executed (the ordinary
 * executor) while the next batch is listed. What outlives a batch is small: the folders on the way down
 * (for their metadata, which comes after their whole subtree), the first path of every multiply-linked
 * inode (--hard-links), and the --delete removals, applied at the end and only if nothing failed (as a
 * whole-tree plan does).
 *
 * Used by `backup` (and its `--dry-run`), `backup --snapshot`'s sync into current/ (with the snapshot
 * dest's rules), the watch daemon's full syncs and `backup restore` from a snapshot (with a restore's rules).
 */
import fs from 'node:fs';
import { errnoCode, type EntryFailure, type EntryWarning } from '../common/errors.js';
import { fsPath, parentRel, type RawPath } from '../common/raw-path.js';
import { executePlan, StopFlag, type ExecuteOptions, type ExecutionReport } from '../copy/execute.js';
import { IgnoreRules } from '../plan/ignore.js';
import { FirstLinks, FolderBatchPlanner, planFolderMeta, type FolderMetaAction, type FolderPair, type PlanOptions } from '../plan/plan.js';
import type { Action, ActionOf, DirEntry, Entry, Plan } from '../plan/types.js';
import { inspect, inspectEach, isEnteredFolder, listFolderEntries, WalkScope, type FolderContents } from '../plan/walk.js';
import type { BackupJob, DestRules } from './backup.js';

/**
 * Entries (source and dest) listed before a batch's plan is executed. Large enough that the pool
 * gets full batches and a batch's tail is short against its length; small enough to cost a few MiB.
 */
const BATCH_ENTRIES = 8192;

export type PlanCounts = Omit<Plan, 'actions'>;

export interface StreamedBackup {
  /** The planner's counts over all batches. */
  readonly plan: PlanCounts;
  /** The executor's report over all batches (without per-file results, which would grow with the tree). */
  readonly report: ExecutionReport;
  /** Entries the scan could not read (unreadable folders). */
  readonly scanFailures: readonly EntryFailure[];
  /** --delete was asked for but dropped because the source scan was incomplete. */
  readonly deletesSkipped: boolean;
  /** False when the source root was not a folder: nothing was planned or done. */
  readonly sourceFound: boolean;
  /** The exclusion rules, with every .backupignore the listing met (watch filters events with them). */
  readonly ignore: IgnoreRules;
}

export type StreamExecution = Omit<ExecuteOptions, 'sourceRoot' | 'destRoot'>;

/** What a caller sees of each batch; the plan and report of the removals at the end count as a batch. */
export interface BatchHooks {
  /** The batch's plan before it runs; what it returns runs instead (the daemon leaves settling files out). */
  readonly planned?: (plan: Plan) => Plan;
  /** The batch's plan as run and its report, with per-file results (the daemon's per-copy lines). */
  readonly executed?: (plan: Plan, report: ExecutionReport) => void;
}

/**
 * What a restore changes in a stream (backup/restore.ts): the source is taken as it is (no .backupignore
 * in it is read), only `paths` of it (all when empty), and a dest folder where the source has a file or
 * symlink is replaced (it was kept aside first).
 */
export interface RestoreScope {
  readonly paths: readonly RawPath[];
}

/** The rules of the kind of dest, and of a restore. */
export interface StreamRules extends DestRules {
  readonly restore?: RestoreScope;
}

/** A source folder met on the way down, until its subtree is done and its metadata set. */
interface OpenFolder {
  readonly entry: DirEntry;
  /** What dest holds at its path at the listing of its parent. */
  readonly dest: Entry | undefined;
  readonly parent: OpenFolder | undefined;
  /** Not entered (-x, a mount point): listed as an empty folder. */
  readonly entered: boolean;
  /** Subfolders not done yet; -1 until the folder itself is listed. */
  openChildren: number;
  touched: boolean;
}

/** `rules`: what the kind of dest adds to the planner's options (a snapshot dest's current/), or a restore. */
export async function streamBackup(job: BackupJob, execution: StreamExecution, hooks: BatchHooks = {}, rules: StreamRules = {}): Promise<StreamedBackup> {
  fs.mkdirSync(fsPath(job.dest), { recursive: true, mode: 0o700 });
  // Dest's own path may go through symlinks the user chose; below it, none may (copy/confine.ts).
  const destRoot = fs.realpathSync(fsPath(job.dest), { encoding: 'latin1' });
  // One flag for every batch: a full disk stops the copies of the batches after it too.
  const stop = execution.stop ?? new StopFlag();
  const options = { ...execution, stop, sourceRoot: job.source, destRoot };
  return new StreamRun(job, { destRoot, stop, run: (plan) => executePlan(plan, options) }, hooks, rules).run();
}

/**
 * `--dry-run`: the same batches, planned in the same bounded memory, handed to `show` instead of being
 * executed. Writes nothing, not even dest's folder.
 */
export async function streamDryRun(job: BackupJob, show: (plan: Plan) => void, rules: StreamRules = {}): Promise<StreamedBackup> {
  const run = (plan: Plan): Promise<ExecutionReport> => {
    show(plan);
    return Promise.resolve(EMPTY_REPORT);
  };
  return new StreamRun(job, { destRoot: existingRealPath(job.dest), stop: new StopFlag(), run }, {}, rules).run();
}

/** A missing dest is listed as nothing, whatever its path resolves to once made. */
function existingRealPath(dest: RawPath): RawPath {
  try {
    return fs.realpathSync(fsPath(dest), { encoding: 'latin1' });
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return dest;
    throw err;
  }
}

/** Where a stream's batches go: the dest they are planned against, and what runs each one. */
interface BatchSink {
  readonly destRoot: RawPath;
  /** Set by a full disk or a shutdown: no new batch is listed. */
  readonly stop: StopFlag;
  readonly run: (plan: Plan) => Promise<ExecutionReport>;
}

class StreamRun {
  private readonly ignore: IgnoreRules;
  /** The rules the source's listing reads its .backupignore files into; none for a restore. */
  private readonly sourceIgnore: IgnoreRules | undefined;
  /** A restore of some paths: the folders above them are listed only for the names on the way. */
  private readonly scope: WalkScope | undefined;
  private readonly planOptions: PlanOptions;
  private readonly links = new FirstLinks();
  private readonly sourceFailures: EntryFailure[] = [];
  private readonly destFailures: EntryFailure[] = [];
  private readonly counts = new Sums(PLAN_COUNTS);
  private readonly reports = new Sums(REPORT_COUNTS);
  /** --delete: planned removals, applied at the end. */
  private readonly deletes: ActionOf<'remove'>[] = [];
  /** Metadata of folders that hold removals: set after them, at the end. */
  private readonly afterDeletes: FolderMetaAction[] = [];
  private readonly foldersWithDeletes = new Set<RawPath>();
  private readonly open = new Map<RawPath, OpenFolder>();
  /** The batch executing while the next one is listed. */
  private executing: Promise<void> = Promise.resolve();

  private readonly destRoot: RawPath;

  constructor(
    private readonly job: BackupJob,
    private readonly sink: BatchSink,
    private readonly hooks: BatchHooks,
    rules: StreamRules,
  ) {
    const { restore, ...destRules } = rules;
    this.destRoot = sink.destRoot;
    this.ignore = new IgnoreRules(job.exclude);
    this.sourceIgnore = restore === undefined ? this.ignore : undefined;
    this.scope = restore !== undefined && restore.paths.length > 0 ? new WalkScope(restore.paths) : undefined;
    this.planOptions = {
      compare: job.compare,
      delete: job.delete,
      keepOwner: job.keepOwner,
      hardLinks: job.hardLinks,
      xattrs: job.xattrs,
      isExcluded: (rel, isDir) => this.ignore.isExcluded(rel, isDir),
      ...destRules,
      ...(restore === undefined ? {} : { replaceFolders: true }),
    };
  }

  async run(): Promise<StreamedBackup> {
    const sourceFound = await this.walk();
    return this.finish(sourceFound);
  }

  /** Lists, plans and executes batch by batch; false when there is no source folder to list. */
  private async walk(): Promise<boolean> {
    const root = inspect(this.job.source, '', this.sourceFailures);
    if (root?.kind !== 'dir') return false;
    const pending: OpenFolder[] = [this.track(root, inspect(this.destRoot, '', this.destFailures), undefined, true)];
    let batch = this.newBatch();
    let folders: OpenFolder[] = [];
    let listed = 0;
    // A stopped run (full disk, shutdown) starts no new copy: the rest of the source is not listed either.
    while (pending.length > 0 && !this.sink.stop.isSet) {
      const folder = pending.pop() as OpenFolder;
      const pair = this.listPair(folder);
      batch.add(pair);
      folders.push(folder);
      listed += pair.entries.length + pair.dest.size;
      const subfolders: OpenFolder[] = [];
      for (const entry of pair.entries) {
        if (entry.kind !== 'dir') continue;
        subfolders.push(this.track(entry, pair.dest.get(entry.rel), folder, isEnteredFolder({ oneFileSystem: this.job.oneFileSystem }, root.dev, entry)));
      }
      folder.openChildren = subfolders.length;
      // Reverse so that popping visits folders in listing order (pre-order, as a whole-tree walk).
      for (let i = subfolders.length - 1; i >= 0; i--) pending.push(subfolders[i] as OpenFolder);
      if (listed >= BATCH_ENTRIES || pending.length === 0) {
        await this.runBatch(batch, folders);
        batch = this.newBatch();
        folders = [];
        listed = 0;
      } else {
        // Let finished copies of the batch in flight be answered with new ones between two listings.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    return true;
  }

  private track(entry: DirEntry, dest: Entry | undefined, parent: OpenFolder | undefined, entered: boolean): OpenFolder {
    const folder: OpenFolder = { entry, dest, parent, entered, openChildren: -1, touched: false };
    this.open.set(entry.rel, folder);
    return folder;
  }

  /** One folder of both trees. Dest is listed only where it has a folder at the same path. */
  private listPair(folder: OpenFolder): FolderPair {
    const { rel } = folder.entry;
    if (!folder.entered) return { folder: folder.entry, entries: [], dest: new Map(), temps: [] };
    const only = this.scope?.entriesOf(rel);
    const contents = (root: RawPath, ignore: IgnoreRules | undefined, failures: EntryFailure[]): FolderContents | undefined =>
      only === undefined ? listFolderEntries(root, rel, { ignore, collectTemps: true }, failures) : inspectEach(root, only, failures);
    const source = contents(this.job.source, this.sourceIgnore, this.sourceFailures);
    const dest = folder.dest?.kind === 'dir' ? contents(this.destRoot, undefined, this.destFailures) : undefined;
    return {
      folder: folder.entry,
      entries: source?.entries ?? [],
      dest: new Map((dest?.entries ?? []).map((entry) => [entry.rel, entry])),
      temps: dest?.temps ?? [],
    };
  }

  private newBatch(): FolderBatchPlanner {
    return new FolderBatchPlanner({ source: this.job.source, dest: this.destRoot }, this.planOptions, this.links);
  }

  /** Ends the batch's plan and executes it once the batch before it is done (its folders and copies come first). */
  private async runBatch(planner: FolderBatchPlanner, folders: readonly OpenFolder[]): Promise<void> {
    const batch = planner.finish();
    this.deletes.push(...batch.deletes);
    for (const remove of batch.deletes) this.foldersWithDeletes.add(parentRel(remove.rel));
    for (const rel of batch.touched) {
      const folder = this.open.get(rel);
      if (folder !== undefined) folder.touched = true;
    }
    const folderMeta: FolderMetaAction[] = [];
    // A folder without subfolders is done; one with subfolders is done by its last one (complete()).
    for (let i = folders.length - 1; i >= 0; i--) {
      const folder = folders[i] as OpenFolder;
      if (folder.openChildren === 0 && this.open.has(folder.entry.rel)) this.complete(folder, folderMeta);
    }
    const planned: Plan = { ...batch.plan, actions: [...batch.plan.actions, ...folderMeta] };
    const plan = this.hooks.planned?.(planned) ?? planned;
    this.counts.add(plan);
    await this.executing;
    this.executing = this.execute(plan);
  }

  /** A folder whose subtree is planned: its metadata goes after it, and its parent may be done with it. */
  private complete(folder: OpenFolder, out: FolderMetaAction[]): void {
    this.open.delete(folder.entry.rel);
    const meta = planFolderMeta(folder.entry, folder.dest, folder.touched, this.planOptions);
    (this.foldersWithDeletes.has(folder.entry.rel) ? this.afterDeletes : out).push(...meta);
    const { parent } = folder;
    if (parent === undefined) return;
    parent.openChildren--;
    if (parent.openChildren === 0) this.complete(parent, out);
  }

  private async execute(plan: Plan): Promise<void> {
    const report = plan.actions.length === 0 ? EMPTY_REPORT : await this.sink.run(plan);
    this.reports.add(report);
    this.hooks.executed?.(plan, report);
  }

  /**
   * After the last batch: the removals, unless a copy failed or part of the source could not be read (a
   * folder that could not be listed looks empty), then the metadata of the folders that held them.
   */
  private async finish(sourceFound: boolean): Promise<StreamedBackup> {
    await this.executing;
    const scanIncomplete = this.sourceFailures.length > 0;
    const deletesAllowed = !scanIncomplete && this.reports.failures.length === 0;
    const actions: Action[] = [...(deletesAllowed ? this.deletes : []), ...this.afterDeletes];
    await this.execute({ ...EMPTY_PLAN, actions });
    const { counts, reports } = this;
    return {
      plan: { ...counts.counts, failures: counts.failures, warnings: counts.warnings },
      report: {
        ...reports.counts,
        failures: reports.failures,
        warnings: reports.warnings,
        results: [],
        deletesSkipped: this.deletes.length > 0 && !deletesAllowed && !scanIncomplete,
      },
      scanFailures: [...this.sourceFailures, ...this.destFailures],
      deletesSkipped: this.job.delete && scanIncomplete,
      sourceFound,
      ignore: this.ignore,
    };
  }
}

const EMPTY_PLAN: Plan = { actions: [], filesTotal: 0, filesSkipped: 0, filesReused: 0, filesRefused: 0, bytesToCopy: 0, warnings: [], failures: [] };
export const EMPTY_REPORT: ExecutionReport = {
  filesCopied: 0,
  filesSkipped: 0,
  filesFailed: 0,
  bytesCopied: 0,
  filesLinked: 0,
  linksRefused: 0,
  failures: [],
  warnings: [],
  results: [],
  deletesSkipped: false,
};

const PLAN_COUNTS = ['filesTotal', 'filesSkipped', 'filesReused', 'filesRefused', 'bytesToCopy'] as const;
const REPORT_COUNTS = ['filesCopied', 'filesSkipped', 'filesFailed', 'bytesCopied', 'filesLinked', 'linksRefused'] as const;

type Part<K extends string> = Readonly<Record<K, number>> & {
  readonly failures: readonly EntryFailure[];
  readonly warnings: readonly EntryWarning[];
};

/** Counts, failures and warnings of the batches' plans or execution reports, summed. */
class Sums<K extends string> {
  readonly counts: Record<K, number>;
  readonly failures: EntryFailure[] = [];
  readonly warnings: EntryWarning[] = [];

  constructor(private readonly keys: readonly K[]) {
    this.counts = Object.fromEntries(keys.map((key) => [key, 0])) as Record<K, number>;
  }

  add(part: Part<K>): void {
    for (const key of this.keys) this.counts[key] += part[key];
    this.failures.push(...part.failures);
    this.warnings.push(...part.warnings);
  }
}
