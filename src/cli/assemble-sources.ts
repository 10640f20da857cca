/**
 * The edge where a `--from` becomes a BlockSource: an http(s) URL (of the file, or of a folder when it
 * ends in `/`) is a remote source, anything else a local folder or copy. Remote sources share one HTTP
 * client, made only when there is one.
 */
import path from 'node:path';
import { LocalSource } from '../assemble/local-source.js';
import type { Candidate } from '../assemble/sources.js';
import { UsageError } from '../common/errors.js';
import { rawFromUser } from '../common/raw-path.js';
import { expandHome } from '../config/load.js';
import { HttpClient } from '../remote/http-client.js';
import { HttpSource } from '../remote/http-source.js';

export interface RemoteOptions {
  /** `--header` values as given: `Name: value`. */
  readonly headers: readonly string[];
  readonly maxPerHost: number;
  readonly stallTimeoutMs: number;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function isUrl(from: string): boolean {
  return /^https?:\/\//i.test(from);
}

export interface MadeSources {
  readonly candidates: Candidate[];
  /** Close once the assembly is over (undefined: no remote source). */
  readonly client: HttpClient | undefined;
}

export function makeSources(name: string, froms: readonly string[], remote: RemoteOptions): MadeSources {
  const client = froms.some(isUrl) ? new HttpClient({ headers: parseHeaders(remote.headers), maxPerHost: remote.maxPerHost, stallTimeoutMs: remote.stallTimeoutMs }) : undefined;
  const candidates = froms.map((from): Candidate => {
    if (client !== undefined && isUrl(from)) return { given: from, source: new HttpSource(urlOf(from, name), client, remote.maxPerHost) };
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(from)) throw new UsageError(`--from ${from}: only http:// and https:// URLs are supported`);
    return { given: from, source: new LocalSource(rawFromUser(path.resolve(expandHome(from))), rawFromUser(name)) };
  });
  return { candidates, client };
}

/** A URL ending in `/` is a folder on the server: the file is `<url><name>`, each segment of the name escaped. */
function urlOf(from: string, name: string): URL {
  let url: URL;
  try {
    url = new URL(from);
  } catch {
    throw new UsageError(`--from ${from} is not a valid URL`);
  }
  if (!url.pathname.endsWith('/')) return url;
  return new URL(name.split('/').map(encodeURIComponent).join('/'), url);
}

/**
 * `Name: value` pairs, names lower-cased. Errors name the header, never its value: headers carry tokens.
 * Checked here rather than by commander, whose message would quote the whole argument.
 */
export function parseHeaders(headers: readonly string[]): Record<string, string> {
  const parsed: Record<string, string> = {};
  for (const header of headers) {
    const colon = header.indexOf(':');
    const name = colon === -1 ? '' : header.slice(0, colon).trim();
    const value = colon === -1 ? '' : header.slice(colon + 1).trim();
    if (!TOKEN.test(name)) throw new UsageError(`--header must be 'Name: value' with a valid header name${name === '' ? '' : ` (got name "${name.slice(0, 40)}")`}`);
    if (/[\r\n\0]/.test(value)) throw new UsageError(`--header ${name}: the value may not contain line breaks`);
    const key = name.toLowerCase();
    if (key === 'range' || key === 'accept-encoding' || key === 'host') throw new UsageError(`--header ${name} cannot be set: assemble needs to control it`);
    parsed[key] = value;
  }
  return parsed;
}
