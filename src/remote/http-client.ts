/**
 * The HTTP client of a run (undici): one connection pool per origin, at most `maxPerHost` connections
 * each, proxies from the environment as curl reads them, the trust store of trust.ts, and redirects
 * followed here (bounded) so the caller learns the final URL and sends its next requests there.
 *
 * Header values are never put in an error or a message: `--header` is how tokens are passed.
 */
import type { Readable } from 'node:stream';
import { EnvHttpProxyAgent, fetch as undiciFetch, request, type Dispatcher } from 'undici';
import { trustedContext } from './trust.js';

const MAX_REDIRECTS = 5;
/** Sent to a redirect's new origin only if it is the same origin: curl and browsers do the same. */
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];

export interface HttpClientOptions {
  /** Extra request headers (`--header`), names lower-cased. */
  readonly headers: Readonly<Record<string, string>>;
  readonly maxPerHost: number;
  /** No byte (headers or body) for this long fails the request. */
  readonly stallTimeoutMs: number;
  readonly env?: NodeJS.ProcessEnv;
}

/** A response without its body: what decides whether the body is wanted. */
export interface ResponseHead {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** After redirects. */
  readonly url: URL;
}

export interface HttpResponse extends ResponseHead {
  readonly body: Readable;
}

/**
 * Whether getBody reads a body: at most `limit` bytes of it, or not at all (`refuse`: the error that
 * ends the request unread). Decided once, synchronously, on the final (non-redirect) head.
 */
export type BodyDecision = { readonly limit: number } | { readonly refuse: Error };

/** What getBody read, as it arrived (`received` bytes in all); `error` if the body did not end well. */
export interface BodyRead {
  readonly head: ResponseHead;
  /** The body as the socket's chunks; empty when they were handed to `onChunk` instead. */
  readonly chunks: readonly Buffer[];
  readonly received: number;
  readonly error?: unknown;
}

export class TooManyRedirects extends Error {
  readonly code = 'ETOOMANYREDIRECTS';
}

/** A body longer than the limit it was given (so not the range asked for). */
export class BodyTooLong extends Error {
  readonly code = 'ELONGBODY';
}

export class HttpClient {
  /**
   * By scheme, each made on first use: curl uses http_proxy for http: only and https_proxy for https:
   * only. Only the https: one loads the trust store (parsing it costs a quarter second of CPU).
   */
  private readonly dispatchers: { 'http:'?: Dispatcher; 'https:'?: Dispatcher } = {};
  private readonly env: NodeJS.ProcessEnv;

  constructor(private readonly options: HttpClientOptions) {
    this.env = options.env ?? process.env;
  }

  /** A GET of `url` (with `Range` when given), following up to MAX_REDIRECTS redirects. */
  async get(url: URL, range: string | undefined, signal?: AbortSignal, authorization?: string): Promise<HttpResponse> {
    return this.following<HttpResponse>(url, this.requestHeaders(range, authorization), async (current, headers) => {
      const response = await request(current, { method: 'GET', headers, signal, dispatcher: this.dispatcherFor(current) });
      const head = { status: response.statusCode, headers: flatten(response.headers), url: current };
      if (redirectTarget(head) === undefined) return { done: { ...head, body: response.body } };
      discardBody(response.body);
      return { redirect: head };
    });
  }

  /**
   * A GET whose body, if `decide` wants it once it has seen the final head, is handed to `onChunk` a
   * socket chunk at a time as it arrives, or (without `onChunk`) kept as those chunks: no stream, no
   * async iterator, no promise per chunk, and no copy (a copy into one buffer costs more than all of that
   * on a machine short of memory bandwidth). Rejects only before the body (connection, redirects, a
   * refusal); how the body ended is in the result.
   */
  async getBody(url: URL, range: string, signal: AbortSignal | undefined, authorization: string | undefined, decide: (head: ResponseHead) => BodyDecision, onChunk?: (chunk: Buffer) => void): Promise<BodyRead> {
    return this.following<BodyRead>(url, this.requestHeaders(range, authorization), async (current, headers) => {
      const dispatcher = this.dispatcherFor(current);
      const read = await new Promise<BodyRead | { redirect: ResponseHead }>((resolve, reject) => {
        dispatcher.dispatch({ origin: current.origin, path: `${current.pathname}${current.search}`, method: 'GET', headers }, new CollectingHandler(current, signal, decide, onChunk, resolve, reject));
      });
      return 'redirect' in read ? read : { done: read };
    });
  }

  /**
   * A fetch through the same proxies and trust store, for small documents (a Metalink, a checksum list).
   * undici's fetch and Node's global one share the WHATWG types; only the declarations differ.
   */
  readonly fetch = ((input: string | URL, init?: RequestInit) => {
    const url = new URL(String(input));
    return undiciFetch(url, { ...(init as object), dispatcher: this.dispatcherFor(url) });
  }) as unknown as typeof fetch;

  private requestHeaders(range: string | undefined, authorization: string | undefined): Record<string, string> {
    return {
      ...(authorization === undefined ? {} : { authorization }),
      ...this.options.headers,
      'accept-encoding': 'identity',
      ...(range === undefined ? {} : { range }),
    };
  }

  /** Runs `hop` until it answers with something other than a redirect, sending credentials to one origin only. */
  private async following<T>(url: URL, first: Record<string, string>, hop: (url: URL, headers: Record<string, string>) => Promise<{ done: T } | { redirect: ResponseHead }>): Promise<T> {
    let current = url;
    let headers = first;
    for (let hops = 0; ; hops++) {
      const answer = await hop(current, headers);
      if ('done' in answer) return answer.done;
      if (hops === MAX_REDIRECTS) throw new TooManyRedirects(`more than ${MAX_REDIRECTS} redirects`);
      const next = new URL(redirectTarget(answer.redirect) as string, current);
      if (next.origin !== current.origin) headers = withoutCredentials(headers);
      current = next;
    }
  }

  async close(): Promise<void> {
    await Promise.all(Object.values(this.dispatchers).map((dispatcher) => dispatcher.close()));
  }

  private dispatcherFor(url: URL): Dispatcher {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`not an http(s) URL: ${url.protocol}`);
    return (this.dispatchers[url.protocol] ??= this.makeDispatcher(url.protocol));
  }

  private makeDispatcher(scheme: 'http:' | 'https:'): Dispatcher {
    const { env } = this;
    const tls = scheme === 'https:' ? { secureContext: trustedContext(env) } : {};
    const common = {
      connections: this.options.maxPerHost,
      headersTimeout: this.options.stallTimeoutMs,
      bodyTimeout: this.options.stallTimeoutMs,
      // `connect` for direct connections, `requestTls` for tunnels through a proxy.
      connect: tls,
      requestTls: tls,
      // NO_PROXY / no_proxy is read by undici itself, with curl's rules (suffix match, `*`, ports).
    };
    // Lower-case http_proxy only, as curl: HTTP_PROXY can be set by a CGI request header (httpoxy).
    if (scheme === 'http:') return new EnvHttpProxyAgent({ ...common, httpProxy: env.http_proxy ?? '', httpsProxy: '' });
    return new EnvHttpProxyAgent({ ...common, httpProxy: '', httpsProxy: env.https_proxy ?? env.HTTPS_PROXY ?? '' });
  }
}

/** Stops reading a body we do not want; undici reports that as an error event, which is expected here. */
export function discardBody(body: Readable): void {
  body.on('error', () => undefined).destroy();
}

/** Where a redirect leads, or undefined for any other answer (304 and a 3xx without Location included). */
function redirectTarget(head: ResponseHead): string | undefined {
  const { status } = head;
  return status >= 300 && status < 400 && status !== 304 ? head.headers.location : undefined;
}

/**
 * undici's dispatch handler for getBody. A redirect's body is read and dropped (the connection stays
 * usable); a refused one ends the request. Errors from the socket, undici's timeouts and the abort
 * signal arrive in onResponseError.
 */
class CollectingHandler implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private head: ResponseHead | undefined;
  /** Undefined until a body is wanted. */
  private limit: number | undefined;
  private readonly chunks: Buffer[] = [];
  private received = 0;
  private settled = false;
  private readonly onAbort = () => this.controller?.abort(this.signal?.reason as Error);

  constructor(
    private readonly url: URL,
    private readonly signal: AbortSignal | undefined,
    private readonly decide: (head: ResponseHead) => BodyDecision,
    private readonly onChunk: ((chunk: Buffer) => void) | undefined,
    private readonly resolve: (read: BodyRead | { redirect: ResponseHead }) => void,
    private readonly reject: (err: unknown) => void,
  ) {
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** May come again if undici retries the request before any response. */
  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.signal?.aborted === true) this.onAbort();
  }

  onResponseStart(controller: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[] | undefined>): void {
    // 1xx: informational, the real head follows.
    if (status < 200) return;
    this.head = { status, headers: flatten(headers), url: this.url };
    if (redirectTarget(this.head) !== undefined) return;
    let decision: BodyDecision;
    try {
      decision = this.decide(this.head);
    } catch (err) {
      decision = { refuse: err as Error };
    }
    if ('refuse' in decision) {
      this.finish(() => this.reject(decision.refuse));
      controller.abort(decision.refuse);
    } else this.limit = decision.limit;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const { limit } = this;
    if (limit === undefined) return;
    if (this.received + chunk.length > limit) {
      controller.abort(new BodyTooLong(`sent more than the ${limit} bytes asked for`));
      return;
    }
    this.received += chunk.length;
    if (this.onChunk === undefined) this.chunks.push(chunk);
    else this.onChunk(chunk);
  }

  onResponseEnd(): void {
    const { head, chunks, received } = this;
    this.finish(() => this.resolve(this.limit === undefined ? { redirect: head as ResponseHead } : { head: head as ResponseHead, chunks, received }));
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    const { head, chunks, received } = this;
    this.finish(() => (head === undefined || this.limit === undefined ? this.reject(error) : this.resolve({ head, chunks, received, error })));
  }

  private finish(settle: () => void): void {
    if (this.settled) return;
    this.settled = true;
    this.signal?.removeEventListener('abort', this.onAbort);
    settle();
  }
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function flatten(headers: Record<string, string | string[] | undefined>): Record<string, string | undefined> {
  const flat: Record<string, string | undefined> = {};
  for (const name of Object.keys(headers)) flat[name] = header(headers, name);
  return flat;
}

function withoutCredentials(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !CREDENTIAL_HEADERS.includes(name)));
}
