/**
 * The HTTP client of a run (undici): one connection pool per origin, at most `maxPerHost` connections
 * each, proxies from the environment as curl reads them, the trust store of trust.ts, and redirects
 * followed here (bounded) so the caller learns the final URL and sends its next requests there.
 *
 * Header values are never put in an error or a message: `--header` is how tokens are passed.
 */
import type { Readable } from 'node:stream';
import { EnvHttpProxyAgent, request, type Dispatcher } from 'undici';
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

export interface HttpResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: Readable;
  /** After redirects. */
  readonly url: URL;
}

export class TooManyRedirects extends Error {
  readonly code = 'ETOOMANYREDIRECTS';
}

export class HttpClient {
  /** By scheme: curl uses http_proxy for http: only and https_proxy for https: only. */
  private readonly dispatchers: Readonly<Record<'http:' | 'https:', Dispatcher>>;

  constructor(private readonly options: HttpClientOptions) {
    const env = options.env ?? process.env;
    const common = {
      connections: options.maxPerHost,
      headersTimeout: options.stallTimeoutMs,
      bodyTimeout: options.stallTimeoutMs,
      connect: { secureContext: trustedContext(env) },
      requestTls: { secureContext: trustedContext(env) },
      // NO_PROXY / no_proxy is read by undici itself, with curl's rules (suffix match, `*`, ports).
    };
    // Lower-case http_proxy only, as curl: HTTP_PROXY can be set by a CGI request header (httpoxy).
    const httpProxy = env.http_proxy ?? '';
    const httpsProxy = env.https_proxy ?? env.HTTPS_PROXY ?? '';
    this.dispatchers = {
      'http:': new EnvHttpProxyAgent({ ...common, httpProxy, httpsProxy: '' }),
      'https:': new EnvHttpProxyAgent({ ...common, httpProxy: '', httpsProxy }),
    };
  }

  /** A GET of `url` (with `Range` when given), following up to MAX_REDIRECTS redirects. */
  async get(url: URL, range: string | undefined, signal?: AbortSignal, authorization?: string): Promise<HttpResponse> {
    let current = url;
    let headers: Record<string, string> = {
      ...(authorization === undefined ? {} : { authorization }),
      ...this.options.headers,
      'accept-encoding': 'identity',
      ...(range === undefined ? {} : { range }),
    };
    for (let hop = 0; ; hop++) {
      const response = await request(current, { method: 'GET', headers, signal, dispatcher: this.dispatcherFor(current) });
      const location = header(response.headers, 'location');
      if (response.statusCode < 300 || response.statusCode >= 400 || response.statusCode === 304 || location === undefined) {
        return { status: response.statusCode, headers: flatten(response.headers), body: response.body, url: current };
      }
      response.body.destroy();
      if (hop === MAX_REDIRECTS) throw new TooManyRedirects(`more than ${MAX_REDIRECTS} redirects`);
      const next = new URL(location, current);
      if (next.origin !== current.origin) headers = withoutCredentials(headers);
      current = next;
    }
  }

  async close(): Promise<void> {
    await Promise.all(Object.values(this.dispatchers).map((dispatcher) => dispatcher.close()));
  }

  private dispatcherFor(url: URL): Dispatcher {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`not an http(s) URL: ${url.protocol}`);
    return this.dispatchers[url.protocol];
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
