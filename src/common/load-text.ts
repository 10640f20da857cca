/**
 * A small text document (a Metalink, a checksum list) from a local path or an http(s) URL, read whole
 * and capped in size. Which of the two is decided here, at the edge; callers only see the text.
 */
import fs from 'node:fs/promises';
import { UsageError } from './errors.js';
import { redactUrl } from './redact-url.js';

export interface LoadTextOptions {
  /** Larger documents are refused, counted after any content decoding (a gzip bomb stops at the cap). */
  readonly maxBytes: number;
  /** Extra request headers for URLs (tokens); never put in messages. */
  readonly headers?: Readonly<Record<string, string>>;
  /** For URLs: the whole request, redirects and body included. Default 30 s. */
  readonly timeoutMs?: number;
  /** The fetch to use; default the global one (Node's, which ignores HTTP(S)_PROXY: pass a proxy-aware one). */
  readonly fetch?: typeof fetch;
}

export interface LoadedText {
  readonly text: string;
  /** The path, or the final URL after redirects with credentials and query redacted: for messages. */
  readonly source: string;
}

/** A document that could not be loaded; the message names the path or the (redacted) URL. */
export class LoadTextError extends UsageError {
  constructor(source: string, problem: string) {
    super(`${source}: ${problem}`, 'ELOADTEXT');
    this.name = 'LoadTextError';
  }
}

export function isHttpUrl(location: string): boolean {
  return /^https?:\/\//i.test(location);
}

export function loadText(location: string, options: LoadTextOptions): Promise<LoadedText> {
  return isHttpUrl(location) ? fetchText(location, options) : readLocalText(location, options.maxBytes);
}

const utf8 = (bytes: Uint8Array): string => new TextDecoder('utf-8').decode(bytes);

async function readLocalText(path: string, maxBytes: number): Promise<LoadedText> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(path, 'r');
  } catch (err) {
    throw new LoadTextError(path, describeFsError(err));
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new LoadTextError(path, 'is not a regular file');
    // Read one byte past the cap: the size from stat may be stale (a growing file, /proc).
    const buffer = Buffer.allocUnsafe(Math.min(stat.size, maxBytes) + 1);
    let length = 0;
    for (let n = -1; n !== 0 && length < buffer.length; length += n) {
      ({ bytesRead: n } = await handle.read(buffer, length, buffer.length - length, length));
    }
    if (length > maxBytes) throw new LoadTextError(path, `is larger than ${maxBytes} bytes`);
    return { text: utf8(buffer.subarray(0, length)), source: path };
  } finally {
    await handle.close();
  }
}

function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'does not exist';
  if (code === 'EACCES' || code === 'EPERM') return 'cannot be read (permission denied)';
  if (code === 'EISDIR') return 'is not a regular file';
  return `cannot be read (${code ?? String(err)})`;
}

async function fetchText(location: string, options: LoadTextOptions): Promise<LoadedText> {
  const label = redactUrl(location);
  const fetchImpl = options.fetch ?? fetch;
  const { url, headers } = credentialsAsHeader(location, options.headers ?? {});
  let response: Response;
  try {
    response = await fetchImpl(url, { headers, redirect: 'follow', signal: AbortSignal.timeout(options.timeoutMs ?? 30_000) });
  } catch (err) {
    throw new LoadTextError(label, describeFetchError(err).replaceAll(location, label));
  }
  const source = response.url === '' ? label : redactUrl(response.url);
  try {
    if (response.status !== 200) throw new LoadTextError(source, `HTTP ${response.status}${response.statusText === '' ? '' : ` ${response.statusText}`}`);
    const declared = Number(response.headers.get('content-length') ?? Number.NaN);
    if (declared > options.maxBytes) throw new LoadTextError(source, `is larger than ${options.maxBytes} bytes (Content-Length ${declared})`);
    return { text: utf8(await readCapped(response, options.maxBytes, source)), source };
  } catch (err) {
    if (err instanceof LoadTextError) throw err;
    throw new LoadTextError(source, describeFetchError(err));
  } finally {
    // A refused body is not read: close the connection instead of draining it (a read body is locked: no-op).
    if (response.body?.locked === false) await response.body.cancel().catch(() => undefined);
  }
}

/**
 * fetch refuses URLs with credentials (and its error repeats them): send `user:password@` as Basic
 * authorization instead, as curl does, unless an Authorization header is given.
 */
function credentialsAsHeader(location: string, given: Readonly<Record<string, string>>): { url: string; headers: Record<string, string> } {
  const url = new URL(location);
  const headers = { ...given };
  if (url.username === '' && url.password === '') return { url: location, headers };
  if (!Object.keys(headers).some((name) => name.toLowerCase() === 'authorization')) {
    const pair = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    headers.Authorization = `Basic ${Buffer.from(pair).toString('base64')}`;
  }
  url.username = '';
  url.password = '';
  return { url: url.href, headers };
}

async function readCapped(response: Response, maxBytes: number, source: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (response.body === null) return new Uint8Array();
  const reader = response.body.getReader();
  for (let next = await reader.read(); !next.done; next = await reader.read()) {
    total += next.value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw new LoadTextError(source, `is larger than ${maxBytes} bytes`);
    }
    chunks.push(next.value);
  }
  return Buffer.concat(chunks, total);
}

/** fetch's errors are `TypeError: fetch failed` with the reason in `cause`. */
function describeFetchError(err: unknown): string {
  if (err instanceof DOMException && (err.name === 'TimeoutError' || err.name === 'AbortError')) return 'timed out';
  const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  const message = typeof cause?.message === 'string' ? cause.message : err instanceof Error ? err.message : String(err);
  return `cannot be fetched (${code === undefined ? message : `${code}: ${message}`})`;
}
