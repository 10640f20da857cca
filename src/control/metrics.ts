/** GET /metrics: the status report in Prometheus' text format, one series per job. */
import type { StatusReport } from './types.js';
import { jobLabel } from './types.js';

interface Metric {
  readonly name: string;
  readonly type: 'gauge' | 'counter';
  readonly help: string;
  readonly samples: readonly (readonly [labels: Record<string, string>, value: number])[];
}

export function renderMetrics(report: StatusReport): string {
  const jobs = report.jobs.map((job) => ({ labels: { job: jobLabel(job) }, job }));
  const perJob = (name: string, type: Metric['type'], help: string, value: (job: StatusReport['jobs'][number]) => number | null): Metric => ({
    name,
    type,
    help,
    samples: jobs.flatMap(({ labels, job }) => {
      const v = value(job);
      return v === null ? [] : [[labels, v] as const];
    }),
  });
  const downloadStates = ['queued', 'running', 'done', 'failed', 'cancelled'] as const;
  const metrics: Metric[] = [
    perJob('backupd_job_last_success_timestamp_seconds', 'gauge', 'When the last run without failures ended.', (j) => (j.lastSuccess === null ? null : Date.parse(j.lastSuccess) / 1000)),
    perJob('backupd_job_healthy', 'gauge', '1 when the job is neither failing nor stale.', (j) => (j.healthy ? 1 : 0)),
    perJob('backupd_job_paused', 'gauge', '1 while the job is paused.', (j) => (j.paused ? 1 : 0)),
    perJob('backupd_job_last_run_duration_seconds', 'gauge', 'How long the last run took.', (j) => (j.lastRun === null ? null : j.lastRun.durationMs / 1000)),
    perJob('backupd_job_last_run_failures', 'gauge', 'Paths the last run failed on.', (j) => j.lastRun?.failed.length ?? null),
    perJob('backupd_job_pending_paths', 'gauge', 'Changed paths waiting for the next run.', (j) => j.pending),
    perJob('backupd_job_runs_total', 'counter', 'Runs since the daemon started.', (j) => j.totals.runs),
    perJob('backupd_job_run_seconds_total', 'counter', 'Time spent in runs since the daemon started.', (j) => j.totals.durationMs / 1000),
    perJob('backupd_job_files_copied_total', 'counter', 'Files copied since the daemon started.', (j) => j.totals.filesCopied),
    perJob('backupd_job_bytes_copied_total', 'counter', 'Bytes copied since the daemon started.', (j) => j.totals.bytesCopied),
    perJob('backupd_job_failures_total', 'counter', 'Failed paths over all runs since the daemon started.', (j) => j.totals.failures),
    {
      name: 'backupd_downloads',
      type: 'gauge',
      help: 'Background downloads by state.',
      samples: downloadStates.map((state) => [{ state }, report.downloads.filter((d) => d.state === state).length] as const),
    },
  ];
  return metrics.map(formatMetric).join('');
}

function formatMetric(metric: Metric): string {
  const lines = [`# HELP ${metric.name} ${metric.help}`, `# TYPE ${metric.name} ${metric.type}`];
  for (const [labels, value] of metric.samples) lines.push(`${metric.name}{${formatLabels(labels)}} ${value}`);
  return `${lines.join('\n')}\n`;
}

function formatLabels(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([key, value]) => `${key}="${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
}
