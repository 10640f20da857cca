/**
 * Runs a Plan against a DestStore, in the planner's phase order: removals of entries whose type changed
 * and folders first, then the uploads (`transfers` at a time), then symlinks and metadata, then --delete
 * (only when nothing failed, as locally), and the store's commit. Per-entry problems are data.
 * A stop (shutdown) starts no new upload, as locally; what was written is still committed.
 */
import { errorData, type EntryFailure, type EntryWarning } from '../common/errors.js';
import { displayPath, joinRaw, type RawPath } from '../common/raw-path.js';
import type { ExecutionReport, StopFlag } from '../copy/execute.js';
import type { Action, ActionOf, Plan } from '../plan/types.js';
import { NO_PROGRESS, type ProgressSink } from '../progress/events.js';
import type { FileResult } from '../copy/types.js';
import type { DestStore, StoreWrite } from './types.js';

export interface StoreExecuteOptions {
  readonly sourceRoot: RawPath;
  readonly transfers: number;
  readonly progress?: ProgressSink;
  /** Set by the caller to stop starting new uploads (the daemon's shutdown). */
  readonly stop?: StopFlag;
}

export async function executeOnStore(plan: Plan, store: DestStore, options: StoreExecuteOptions): Promise<ExecutionReport> {
  const failures: EntryFailure[] = [];
  const warnings: EntryWarning[] = [];
  const results: FileResult[] = [];
  const where = (rel: RawPath): string => displayPath(joinRaw(store.display, rel));
  const attempt = async (rel: RawPath, step: () => Promise<void>): Promise<void> => {
    try {
      await step();
    } catch (err) {
      failures.push({ path: where(rel), ...errorData(err) });
    }
  };
  let filesCopied = 0;
  let filesSkipped = 0;
  let filesFailed = 0;
  let bytesCopied = 0;
  let notStarted = 0;
  let deletesSkipped = false;

  const uploads = async (copies: readonly ActionOf<'copy'>[]): Promise<void> => {
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < copies.length) {
        const action = copies[next++] as ActionOf<'copy'>;
        if (options.stop?.isSet === true) {
          notStarted++;
          results.push({ rel: action.rel, status: 'not-started' });
          continue;
        }
        const written = await store.writeFile(action.source, joinRaw(options.sourceRoot, action.rel), {
          sameContentSkips: action.skipIfSameContent,
          progress: options.progress ?? NO_PROGRESS,
        });
        results.push(resultOf(action.rel, written));
        if (written.status === 'written') {
          filesCopied++;
          bytesCopied += written.bytes;
        } else if (written.status === 'unchanged') {
          filesSkipped++;
        } else if (written.status === 'vanished') {
          filesSkipped++;
          warnings.push({ path: displayPath(joinRaw(options.sourceRoot, action.rel)), code: written.code, message: written.message });
        } else {
          filesFailed++;
          failures.push({ path: where(action.rel), code: written.code, message: written.message });
        }
      }
    };
    await Promise.all(Array.from({ length: options.transfers }, lane));
    filesFailed += notStarted;
  };

  const copies = plan.actions.filter((a): a is ActionOf<'copy'> => a.type === 'copy');
  let copiesDone = false;
  for (const action of plan.actions) {
    if (action.type === 'copy') {
      if (!copiesDone) {
        await uploads(copies);
        // Counted before the deletes, which a stopped run must not make.
        if (notStarted > 0) failures.push({ path: store.display, code: 'ESTOPPED', message: `${notStarted} file(s) were not uploaded because the run stopped early` });
      }
      copiesDone = true;
      continue;
    }
    if (action.type === 'remove' && action.reason === 'deleted' && failures.length > 0) {
      deletesSkipped = true;
      continue;
    }
    await attempt(action.rel, () => runAction(store, action));
  }
  failures.push(...(await store.commit()));
  return { filesCopied, filesSkipped, filesFailed, bytesCopied, filesLinked: 0, linksRefused: 0, failures, warnings, results, deletesSkipped };
}

/** The executor's per-file result (the watch daemon logs a line per copy from these). */
function resultOf(rel: RawPath, written: StoreWrite): FileResult {
  switch (written.status) {
    case 'written':
      return { rel, status: 'copied', bytes: written.bytes, changedSinceScan: false };
    case 'unchanged':
      return { rel, status: 'unchanged' };
    case 'vanished':
      return { rel, status: 'vanished', code: written.code, message: written.message };
    case 'failed':
      return { rel, status: 'failed', side: written.code === 'ECHANGED' ? 'source' : 'dest', code: written.code, message: written.message };
  }
}

async function runAction(store: DestStore, action: Exclude<Action, ActionOf<'copy'>>): Promise<void> {
  switch (action.type) {
    case 'remove':
      return store.remove(action.rel, action.kind);
    case 'mkdir':
      return store.mkdir(action.rel);
    case 'symlink':
      return store.symlink(action.source);
    case 'set-meta':
      return store.setMeta(action.source);
    // A store has no temporaries (an upload is invisible until complete), no hard links, reused files
    // or extended attributes: the plan for a store is made without those options.
    case 'remove-temp':
    case 'reuse':
    case 'hardlink':
    case 'set-xattrs':
      return;
  }
}
