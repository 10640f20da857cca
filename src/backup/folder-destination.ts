/** A plain folder as a Destination: walked and written by the local engine, a full sync streamed in bounded memory. */
import fs from 'node:fs';
import { fsPath } from '../common/raw-path.js';
import type { ExecutionReport } from '../copy/execute.js';
import { executeBackup, planBackup, type BackupJob, type PlannedBackup, type PlanScope } from './backup.js';
import type { Destination, DestSync } from './destination.js';
import type { Plan } from '../plan/types.js';
import { streamBackup, streamDryRun, type BatchHooks, type StreamedBackup, type StreamExecution } from './stream.js';

export class FolderDestination implements Destination {
  constructor(private readonly job: BackupJob) {}

  get root(): string {
    return this.job.dest;
  }

  preview(show: (plan: Plan) => void): Promise<StreamedBackup> {
    return streamDryRun(this.job, show);
  }

  async plan(scope?: PlanScope): Promise<PlannedBackup> {
    return planBackup(this.job, scope);
  }

  execute(planned: PlannedBackup, execution: StreamExecution): Promise<ExecutionReport> {
    return executeBackup(planned, execution);
  }

  sync(execution: StreamExecution, hooks?: BatchHooks): Promise<DestSync> {
    // A first backup copies everything: the threads boot while the source is walked instead of after it
    // (about 10 ms on 20,000 files here). An existing dest may need no copy at all: no thread then.
    if (!fs.existsSync(fsPath(this.job.dest))) execution.pool.warmUp();
    return streamBackup(this.job, execution, hooks);
  }

  close(): void {}
}
