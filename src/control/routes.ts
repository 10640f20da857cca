/**
 * The control API as plain functions: a parsed request in, a status and a JSON body out. The same
 * routes answer on the unix socket and (behind its checks) on the HTTP page server.
 */
import type { DownloadStatus, HistoryEntry, JobSelector, StatusReport } from './types.js';

export class ControlError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ControlError';
  }
}

export interface ReloadAnswer {
  readonly jobs: number;
  readonly parallelDownloads: number;
  /** Settings the reload did not apply (the listening addresses): each says what it keeps and why. */
  readonly restartNeeded: readonly string[];
}

/** What the daemon offers its clients; implemented by ControlPlane. */
export interface ControlApi {
  info(): { pid: number; startedAt: string };
  /** The status page's login link (it holds the token); ControlError 404 without --http. */
  pageUrl(): { url: string };
  status(): StatusReport;
  /** Each returns the jobs acted on (their names or sources); throws ControlError for an unknown job. */
  run(job: JobSelector | undefined): string[];
  pause(job: JobSelector | undefined): string[];
  resume(job: JobSelector | undefined): string[];
  reload(): Promise<ReloadAnswer>;
  history(n: number | undefined, job: JobSelector | undefined): HistoryEntry[];
  submitDownload(request: DownloadRequest): Promise<DownloadStatus>;
  cancelDownload(id: string): DownloadStatus;
}

/** `backup assemble ... --background`: the arguments as typed (without --background), and where. */
export interface DownloadRequest {
  readonly argv: readonly string[];
  readonly cwd: string;
  /** The absolute output path (for progress), and the --from sources (for the list). */
  readonly output: string;
  readonly sources: readonly string[];
}

export interface ApiRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly body: unknown;
}

export interface ApiResponse {
  readonly status: number;
  readonly body: unknown;
}

export async function route(api: ControlApi, request: ApiRequest): Promise<ApiResponse> {
  try {
    return { status: 200, body: await dispatch(api, request) };
  } catch (err) {
    if (!(err instanceof ControlError)) throw err;
    return { status: err.status, body: { error: { code: err.code, message: err.message } } };
  }
}

async function dispatch(api: ControlApi, { method, path, query, body }: ApiRequest): Promise<unknown> {
  const get = method === 'GET' || method === 'HEAD';
  if (get && path === '/v1/info') return api.info();
  if (get && path === '/v1/status') return api.status();
  if (get && path === '/v1/page') return api.pageUrl();
  if (get && path === '/v1/history') return { entries: api.history(countParam(query.get('n')), jobParam({ job: query.get('job') ?? undefined, path: query.get('path') ?? undefined })) };
  if (method !== 'POST') {
    if (KNOWN_PATHS.has(path)) throw new ControlError(405, 'EMETHOD', `${method} is not allowed on ${path}`);
    throw new ControlError(404, 'ENOTFOUND', `no such endpoint: ${path}`);
  }
  const job = jobParam(body);
  switch (path) {
    case '/v1/jobs/run':
      return { jobs: api.run(job) };
    case '/v1/jobs/pause':
      return { jobs: api.pause(job) };
    case '/v1/jobs/resume':
      return { jobs: api.resume(job) };
    case '/v1/reload':
      return api.reload();
    case '/v1/downloads':
      return api.submitDownload(downloadParam(body));
    case '/v1/downloads/cancel':
      return api.cancelDownload(stringField(body, 'id'));
    default:
      throw new ControlError(404, 'ENOTFOUND', `no such endpoint: ${path}`);
  }
}

const KNOWN_PATHS = new Set(['/v1/info', '/v1/page', '/v1/status', '/v1/history', '/v1/jobs/run', '/v1/jobs/pause', '/v1/jobs/resume', '/v1/reload', '/v1/downloads', '/v1/downloads/cancel']);

function countParam(value: string | null): number | undefined {
  if (value === null) return undefined;
  if (!/^\d+$/.test(value)) throw new ControlError(400, 'EBADREQUEST', `n must be a whole number, not ${JSON.stringify(value)}`);
  return Number(value);
}

function jobParam(body: unknown): JobSelector | undefined {
  const { job, path } = (body ?? {}) as { job?: unknown; path?: unknown };
  if (job === undefined || job === null) return undefined;
  if (typeof job !== 'string' || (path !== undefined && typeof path !== 'string')) throw new ControlError(400, 'EBADREQUEST', 'job and path must be strings');
  return path === undefined ? { job } : { job, path };
}

function stringField(body: unknown, field: string): string {
  const value = (body as Record<string, unknown> | null)?.[field];
  if (typeof value !== 'string' || value === '') throw new ControlError(400, 'EBADREQUEST', `${field} must be a non-empty string`);
  return value;
}

function downloadParam(body: unknown): DownloadRequest {
  const { argv, cwd, output, sources } = (body ?? {}) as Record<string, unknown>;
  if (!isStringList(argv) || !isStringList(sources)) throw new ControlError(400, 'EBADREQUEST', 'argv and sources must be lists of strings');
  if (typeof cwd !== 'string' || !cwd.startsWith('/')) throw new ControlError(400, 'EBADREQUEST', 'cwd must be an absolute path');
  if (typeof output !== 'string' || !output.startsWith('/')) throw new ControlError(400, 'EBADREQUEST', 'output must be an absolute path');
  return { argv, cwd, output, sources };
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((a) => typeof a === 'string');
}
