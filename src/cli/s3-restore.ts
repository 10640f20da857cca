/** `backup restore s3://bucket/prefix [<path>...] --to <dir>`: into a new or empty folder only. */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { UsageError } from '../common/errors.js';
import { rawFromUser, type RawPath } from '../common/raw-path.js';
import { expandHome } from '../config/load.js';
import { CopyPool } from '../copy/pool.js';
import { createProgressBar } from '../progress/bar.js';
import { openS3Store } from '../store/s3/open.js';
import { executeS3Restore, planS3Restore } from '../store/s3/restore-from.js';
import { describeActions, summarizeExecution } from './backup-command.js';
import { printBackupSummary, printJson } from './output.js';
import type { RestoreOptions } from './restore-command.js';
import { DEFAULT_TRANSFERS } from './s3-destination.js';

export async function s3RestoreCommand(url: string, paths: readonly RawPath[], options: RestoreOptions): Promise<number> {
  const to = path.resolve(expandHome(options.to));
  // Restoring over files needs them kept aside first (as a snapshot restore does); not built for s3:// yet.
  if (options.overwrite) throw new UsageError('--overwrite is not supported for s3:// sources; restore into a new or empty folder', 'EUSAGE');
  if (fs.existsSync(to) && fs.readdirSync(to).length > 0) throw new UsageError(`--to ${to} is not empty; restore from s3:// into a new or empty folder`, 'ENOTEMPTY');
  const transfers = options.jobs ?? DEFAULT_TRANSFERS;
  const store = await openS3Store(url, {}, transfers);
  const restore = { to: rawFromUser(to), paths, keepOwner: process.getuid?.() === 0, transfers };
  const plan = await planS3Restore(store, restore);
  if (options.dryRun) {
    const lines = describeActions(plan);
    if (options.json) printJson({ dryRun: true, to, actions: lines });
    else for (const line of lines) process.stdout.write(`${line.action} ${line.path}\n`);
    return 0;
  }
  const started = performance.now();
  const pool = new CopyPool(1);
  const copies = plan.actions.filter((a) => a.type === 'copy').length;
  const bar = await createProgressBar({ totalBytes: plan.bytesToCopy, totalFiles: copies, enabled: !options.quiet && !options.json });
  const report = await executeS3Restore(plan, store, { ...restore, pool, progress: bar }).finally(async () => {
    bar.stop();
    await pool.destroy();
  });
  const errors = [...plan.failures, ...report.failures];
  const summary = summarizeExecution(plan, report, performance.now() - started, errors);
  if (options.json) printJson({ to, ...summary });
  else printBackupSummary(summary, options);
  return errors.length > 0 ? 1 : 0;
}
