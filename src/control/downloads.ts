/**
 * Background downloads (`backup assemble ... --background`): a queue the daemon works through, at most
 * `parallel` at a time, kept in `downloads.json` so that it survives a restart. Each download is the
 * `backup assemble` command itself, run as a child process in the client's folder with the client's
 * arguments: every assemble option (and every one added later) means exactly what it means on the
 * command line, and a resumed download continues from its `.part.state` like a rerun would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { partPathFor } from '../assemble/assemble.js';
import { readProgress, statePathFor } from '../assemble/resume-state.js';
import { writeFileAtomic } from '../common/atomic.js';
import { fsPath, rawFromUser } from '../common/raw-path.js';
import type { DownloadService } from './plane.js';
import { ControlError, type DownloadRequest } from './routes.js';
import type { DownloadState, DownloadStatus } from './types.js';

interface DownloadRecord {
  readonly id: string;
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly output: string;
  readonly sources: readonly string[];
  state: DownloadState;
  error: string | null;
  bytes: number;
  totalBytes: number | null;
  /** The `backup assemble` child while it runs. */
  pid?: number;
  /** It was running when the daemon stopped (or was killed). */
  interrupted?: boolean;
}

export interface DownloadEvents {
  progress(status: DownloadStatus): void;
  finished(status: DownloadStatus): void;
}

export interface QueueOptions {
  readonly folder: string;
  readonly parallel: number;
  /** The `backup` entry script the daemon runs as (dist/cli/main.js). */
  readonly cliScript: string;
  readonly events: DownloadEvents;
}

const PROGRESS_MS = 1000;
const BEGIN_WAIT_MS = 10_000;
/** Finished downloads listed by status; older ones are only in the history. */
const KEPT_FINISHED = 50;

export class DownloadQueue implements DownloadService {
  private readonly file: string;
  private readonly records: DownloadRecord[];
  private readonly children = new Map<string, ChildProcess>();
  private readonly exits = new Map<string, Promise<void>>();
  private stopping = false;
  private readonly ticker: NodeJS.Timeout;
  private parallel: number;

  constructor(private readonly options: QueueOptions) {
    this.parallel = options.parallel;
    this.file = path.join(options.folder, 'downloads.json');
    // A download that was running when the daemon stopped is queued again: it resumes from its .part.state.
    // If the daemon was killed, its child may still be writing: it is stopped first, never joined by a twin.
    this.records = readRecords(this.file).map((r) => {
      if (r.state !== 'running') return r;
      if (r.pid !== undefined) killOrphan(r.pid);
      return { ...r, state: 'queued', pid: undefined, interrupted: true };
    });
    // The child of a killed daemon may have finished by itself before it was stopped: its .part is gone and
    // the output is there. Run again, assemble would refuse the existing output.
    for (const record of this.records) if (record.state === 'queued' && finishedMeanwhile(record)) this.completed(record);
    this.ticker = setInterval(() => this.reportProgress(), PROGRESS_MS);
    this.pump();
  }

  /** A reloaded `downloads.parallel`: more start at once; when lowered, the running ones finish and no new one starts until below. */
  setParallel(parallel: number): void {
    this.parallel = parallel;
    this.pump();
  }

  list(): DownloadStatus[] {
    return this.records.map(statusOf);
  }

  /**
   * Queues the download and, when it can start at once, waits until the child has either begun (its
   * .part.state exists) or exited: bad arguments are answered here, with assemble's own message.
   */
  async submit(request: DownloadRequest): Promise<DownloadStatus> {
    if (this.stopping) throw new ControlError(503, 'ESTOPPING', 'the daemon is stopping');
    const same = this.records.find((r) => r.output === request.output && (r.state === 'queued' || r.state === 'running'));
    if (same !== undefined) throw new ControlError(409, 'EBUSY', `download ${same.id} already writes ${request.output}`);
    const record: DownloadRecord = {
      id: this.nextId(),
      argv: request.argv,
      cwd: request.cwd,
      output: request.output,
      sources: request.sources,
      state: 'queued',
      error: null,
      bytes: 0,
      totalBytes: null,
    };
    this.records.push(record);
    this.save();
    this.pump();
    const began = record.state === 'running' && (await this.began(record));
    if (record.state === 'failed' && !began) {
      this.records.splice(this.records.indexOf(record), 1);
      this.save();
      throw new ControlError(422, 'EASSEMBLE', record.error ?? 'assemble refused the arguments');
    }
    return statusOf(record);
  }

  cancel(id: string): DownloadStatus {
    const record = this.records.find((r) => r.id === id);
    if (record === undefined) throw new ControlError(404, 'ENODOWNLOAD', `no download ${id}`);
    if (record.state !== 'queued' && record.state !== 'running') {
      throw new ControlError(409, 'EFINISHED', `download ${id} is already ${record.state}`);
    }
    this.finish(record, 'cancelled', null);
    this.children.get(id)?.kill('SIGTERM');
    this.pump();
    return statusOf(record);
  }

  /** Daemon shutdown: stop the children (their .part.state keeps the done blocks), keep them queued. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.ticker);
    for (const child of this.children.values()) child.kill('SIGTERM');
    await Promise.all(this.exits.values());
    this.save();
  }

  private pump(): void {
    if (this.stopping) return;
    for (const record of this.records) {
      if (this.children.size >= this.parallel) return;
      if (record.state === 'queued') this.start(record);
    }
  }

  private start(record: DownloadRecord): void {
    record.state = 'running';
    record.error = null;
    record.interrupted = undefined;
    const child = spawn(process.execPath, [this.options.cliScript, 'assemble', ...record.argv, '--quiet'], {
      cwd: record.cwd,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4096)));
    record.pid = child.pid;
    this.children.set(record.id, child);
    this.exits.set(
      record.id,
      new Promise((resolve) => {
        child.on('error', (err) => (stderr += err.message));
        child.on('close', (code) => {
          this.children.delete(record.id);
          this.exits.delete(record.id);
          this.exited(record, code, lastLine(stderr));
          resolve();
        });
      }),
    );
    this.save();
  }

  private exited(record: DownloadRecord, code: number | null, message: string | null): void {
    this.updateProgress(record);
    record.pid = undefined;
    // Killed by a signal it did not get from us (Ctrl-C reaches the whole process group): not its fault, try again.
    if (record.state === 'running' && code === null) record.state = 'queued';
    if (record.state === 'running' && !this.stopping) {
      if (code === 0) {
        this.completed(record);
      } else {
        this.finish(record, 'failed', message ?? `assemble exited with status ${code}`);
      }
    }
    this.save();
    this.pump();
  }

  private completed(record: DownloadRecord): void {
    record.bytes = record.totalBytes ?? fileSize(record.output) ?? record.bytes;
    record.totalBytes = record.bytes;
    this.finish(record, 'done', null);
  }

  private finish(record: DownloadRecord, state: DownloadState, error: string | null): void {
    record.state = state;
    record.error = error;
    const finished = this.records.filter((r) => r.state !== 'queued' && r.state !== 'running');
    for (const old of finished.slice(0, Math.max(0, finished.length - KEPT_FINISHED))) this.records.splice(this.records.indexOf(old), 1);
    this.save();
    this.options.events.finished(statusOf(record));
  }

  /**
   * True once the child has saved its .part.state (assemble checks its arguments before that), or is
   * still going after a while (a slow first block of a resume); false if it ended first.
   */
  private began(record: DownloadRecord): Promise<boolean> {
    const state = statePathFor(partPathFor(rawFromUser(record.output)));
    // Less a little: the file system's clock ticks coarser than Date.now().
    const since = Date.now() - 20;
    const deadline = Date.now() + BEGIN_WAIT_MS;
    return new Promise((resolve) => {
      const check = (): void => {
        if (record.state !== 'running') return resolve(false);
        if ((mtimeOf(state) ?? 0) >= since || Date.now() > deadline) return resolve(true);
        setTimeout(check, 50);
      };
      check();
    });
  }

  private reportProgress(): void {
    for (const record of this.records) {
      if (record.state !== 'running') continue;
      this.updateProgress(record);
      this.options.events.progress(statusOf(record));
    }
  }

  private updateProgress(record: DownloadRecord): void {
    const progress = readProgress(partPathFor(rawFromUser(record.output)));
    if (progress === undefined) return;
    record.bytes = progress.bytesDone;
    record.totalBytes = progress.size;
  }

  private nextId(): string {
    const highest = Math.max(0, ...this.records.map((r) => Number(r.id.slice(1)) || 0), ...readRecords(this.file).map((r) => Number(r.id.slice(1)) || 0));
    return `d${highest + 1}`;
  }

  private save(): void {
    writeFileAtomic(rawFromUser(this.file), `${JSON.stringify({ downloads: this.records })}\n`);
  }
}

/** The argv stays in downloads.json (0600): it may hold secrets (--header 'Authorization: …'). */
function statusOf(record: DownloadRecord): DownloadStatus {
  const { id, output, state, bytes, totalBytes, sources, error } = record;
  return { id, output, state, bytes, totalBytes, sources, error };
}

function readRecords(file: string): DownloadRecord[] {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as { downloads?: DownloadRecord[] };
    return Array.isArray(parsed.downloads) ? parsed.downloads : [];
  } catch {
    return [];
  }
}

/** assemble's last stderr line, without its "backup: " prefix. */
function lastLine(stderr: string): string | null {
  const lines = stderr.split('\n').filter((line) => line.trim() !== '');
  return lines.at(-1)?.replace(/^backup: (error: )?/, '') ?? null;
}

/** Stops a `backup assemble` child left running by a killed daemon, and waits until it is gone. */
function killOrphan(pid: number): void {
  let cmdline: string;
  try {
    cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return;
  }
  if (!cmdline.split('\0').includes('assemble')) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  // SIGKILL takes effect at once; the wait is for the kernel to reap the files it holds open.
  const deadline = Date.now() + 5000;
  while (fs.existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readOrEmpty(`/proc/${pid}/status`)) && Date.now() < deadline) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
}

function readOrEmpty(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function mtimeOf(file: string): number | undefined {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

function finishedMeanwhile(record: DownloadRecord): boolean {
  return record.interrupted === true && fileSize(record.output) !== undefined && !fs.existsSync(fsPath(partPathFor(rawFromUser(record.output))));
}

function fileSize(file: string): number | undefined {
  try {
    return fs.statSync(file).size;
  } catch {
    return undefined;
  }
}
