/**
 * The edge where a `--from` becomes a BlockSource: an http(s) URL (of the file, or of a folder when it
 * ends in `/`) is a remote source, anything else a local folder or copy. Remote sources share one HTTP
 * client, made only when there is one: the HTTP modules (undici) are loaded only then, so a local
 * assemble does not pay their start-up.
 */
import path from 'node:path';
import { LocalSource } from '../assemble/local-source.js';
import type { Candidate } from '../assemble/sources.js';
import { UsageError } from '../common/errors.js';
import { rawFromUser } from '../common/raw-path.js';
import { expandHome } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { HttpClient } from '../remote/http-client.js';
import { s3SettingsFor } from './s3-settings.js';

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

/** s3:// objects are read over HTTP too (presigned URLs), so they need the client as well. */
function isRemote(from: string): boolean {
  return isUrl(from) || from.startsWith('s3://');
}

/** The run's HTTP client, made only when something is to be fetched (a URL source, a Metalink by URL). */
export async function httpClientFor(locations: readonly (string | undefined)[], remote: RemoteOptions): Promise<HttpClient | undefined> {
  const headers = parseHeaders(remote.headers);
  if (!locations.some((location) => location !== undefined && isRemote(location))) return undefined;
  const { HttpClient } = await import('../remote/http-client.js');
  return new HttpClient({ headers, maxPerHost: remote.maxPerHost, stallTimeoutMs: remote.stallTimeoutMs });
}

/** `config`: an s3:// source is reached with the settings of the config job whose dest holds it (s3-settings.ts). */
export async function makeSources(name: string, froms: readonly string[], client: HttpClient | undefined, remote: RemoteOptions, config: Config): Promise<Candidate[]> {
  const http = client === undefined ? undefined : { client, HttpSource: (await import('../remote/http-source.js')).HttpSource };
  return Promise.all(froms.map(async (from): Promise<Candidate> => {
    if (http !== undefined && isUrl(from)) return { given: from, source: new http.HttpSource(urlOf(from, name), http.client, remote.maxPerHost) };
    if (http !== undefined && from.startsWith('s3://')) {
      // Loaded only for s3:// sources (SDK start-up cost); checked like a backup dest (exit 2 when refused).
      const url = await (await import('../store/s3/presign.js')).presignedUrl(from, rawFromUser(name), s3SettingsFor(from, config));
      return { given: from, source: new http.HttpSource(url, http.client, remote.maxPerHost) };
    }
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(from)) throw new UsageError(`--from ${from}: only http://, https:// and s3:// URLs are supported`);
    return { given: from, source: new LocalSource(rawFromUser(path.resolve(expandHome(from))), rawFromUser(name)) };
  }));
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
