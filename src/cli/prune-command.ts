/**
 * `backup prune <dest>`: apply keep rules to a snapshot dest, say for each snapshot why it is kept or
 * removed, remove the others (unless --dry-run).
 */
import { DestLock } from '../snapshots/lock.js';
import { checkPrune, finishRemovals, pruneSnapshots, type PruneResult } from '../snapshots/prune.js';
import { keepRulesFromOptions, type KeepOptions } from './keep-rules.js';
import { printJson, reportFailure, say, type OutputMode } from './output.js';
import { resolveSnapshotDest } from './snapshot-dest-arg.js';

export interface PruneCommandOptions extends OutputMode, KeepOptions {
  readonly dryRun: boolean;
}

export async function pruneCommand(destArg: string, options: PruneCommandOptions): Promise<number> {
  const root = resolveSnapshotDest(destArg);
  const rules = keepRulesFromOptions(options);
  checkPrune(root, rules);
  // A dry run changes nothing, so it may look while a snapshot run or the daemon holds the dest.
  const lock = options.dryRun ? undefined : DestLock.acquire(root);
  let result: PruneResult;
  try {
    result = pruneSnapshots(root, rules, { dryRun: options.dryRun, deferDeletion: true });
  } finally {
    lock?.release();
  }
  // Unlisted already: the deletion needs no lock, and a run that starts meanwhile is not held up.
  const failures = [...result.failures, ...(options.dryRun ? [] : finishRemovals(root))];
  for (const failure of failures) reportFailure(failure);
  if (options.json) printJson({ dryRun: options.dryRun, kept: result.kept, removed: result.removed, errors: failures });
  else printDecisions(result, options);
  return failures.length > 0 ? 1 : 0;
}

/** One line per snapshot on stdout, oldest first: `keep <name>  <reasons>` or `remove <name>`. */
function printDecisions(result: PruneResult, options: PruneCommandOptions): void {
  const removedNames = new Set(result.removed.map((r) => r.name));
  for (const { snapshot, reasons } of result.decisions) {
    if (reasons.length > 0) process.stdout.write(`keep   ${snapshot.name}  ${reasons.join(', ')}\n`);
    else if (removedNames.has(snapshot.name)) process.stdout.write(`remove ${snapshot.name}  no rule keeps it\n`);
    else process.stdout.write(`failed ${snapshot.name}  no rule keeps it, but it could not be removed\n`);
  }
  if (options.quiet) return;
  const removed = options.dryRun ? `${result.removed.length} would be removed; nothing was removed (dry run)` : `${result.removed.length} removed`;
  say(`${result.kept.length} snapshot(s) kept, ${removed}`);
}
