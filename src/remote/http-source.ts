/**
 * An HTTP(S) URL as a BlockSource: every block is one ranged GET (RFC 9110 §14), kept in memory until
 * it is whole and checked, then handed to the assembler. Runs on the main thread's event loop: network
 * I/O is waiting, not work, and a worker thread would only add a copy of every byte.
 *
 * A block's bytes are accepted only from a 206 whose Content-Range is exactly the range asked for, of a
 * file of the size and validators (strong ETag, Last-Modified) seen at the start. What a response means
 * for the source is decided here and handed to the assembler as a SourceError verdict.
 */
import type { Readable } from 'node:stream';
import { errorData } from '../common/errors.js';
import { SourceError, isAbort, type BlockRequest, type BlockSource, type SourceInfo, type Transfer, type TransferContext, type Validators } from '../assemble/source.js';
import { parseContentRange, retryAfterMs, strongEtag, unsatisfiedSize } from './content-range.js';
import type { HttpClient, HttpResponse } from './http-client.js';

/** A server's Retry-After is obeyed up to this; a longer wait is its problem, not the download's. */
export const MAX_BACKOFF_MS = 30_000;
/** Without Retry-After, the pause before asking a busy server again. */
const DEFAULT_BACKOFF_MS = 1000;
/** Attempts at the first request of a busy server before it is left out. */
const OPEN_ATTEMPTS = 3;
/** TLS failures: the server is not who it should be, and asking again will not change that. */
const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/;

export class HttpSource implements BlockSource {
  readonly writes = 'buffered';
  readonly label: string;
  private url: URL;
  /** Credentials from the URL's userinfo, sent as Basic auth (as curl does) and kept out of the label. */
  private readonly auth: string | undefined;
  private size = 0;
  private validators: Validators = {};

  constructor(
    url: URL,
    private readonly client: HttpClient,
    readonly slots: number,
  ) {
    this.auth = url.username === '' ? undefined : `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
    this.url = new URL(url);
    this.url.username = '';
    this.url.password = '';
    this.label = redact(this.url);
  }

  async open(): Promise<SourceInfo> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.probe();
      } catch (err) {
        if (!(err instanceof SourceError) || err.verdict !== 'backoff' || attempt === OPEN_ATTEMPTS) throw asDrop(err);
        await sleep(err.extra.retryAfterMs ?? DEFAULT_BACKOFF_MS);
      }
    }
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    return this.fetchRange(offset, length, signal, () => undefined);
  }

  async transfer(request: BlockRequest, context: TransferContext): Promise<Transfer> {
    return { kind: 'data', data: await this.fetchRange(request.offset, request.length, context.signal, context.onBytes) };
  }

  async *stream(signal: AbortSignal): AsyncIterable<Buffer> {
    const response = await this.send(undefined, signal);
    if (response.status !== 200) throw this.statusError(response);
    this.checkResponse(response);
    const length = Number(response.headers['content-length'] ?? Number.NaN);
    if (length !== this.size) throw this.changed(`now sends ${Number.isNaN(length) ? 'no' : length} bytes`, response.body);
    try {
      for await (const chunk of response.body as AsyncIterable<Buffer>) yield chunk;
    } catch (err) {
      throw isAbort(err) ? err : transportError(err);
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** The first request: one byte, to learn the size, the validators, the final URL and whether ranges work. */
  private async probe(): Promise<SourceInfo> {
    const response = await this.send('bytes=0-0');
    this.validators = validatorsOf(response);
    this.checkEncoding(response);
    if (response.status === 416) {
      const size = unsatisfiedSize(response.headers['content-range']);
      response.body.destroy();
      if (size !== 0) throw new SourceError('ERANGE', 'refused the range bytes=0-0 (HTTP 416)', 'drop');
      return this.info(0, true);
    }
    if (response.status === 200) {
      response.body.destroy();
      const length = response.headers['content-length'];
      if (length === undefined || !/^\d+$/.test(length)) throw new SourceError('ENOSIZE', 'does not say how big the file is', 'drop');
      return this.info(Number(length), false);
    }
    if (response.status !== 206) throw this.statusError(response);
    const range = parseContentRange(response.headers['content-range']);
    await drain(response.body);
    if (range?.first !== 0 || range.last !== 0 || range.size === undefined) {
      throw new SourceError('ERANGE', 'answered a range request with an unusable Content-Range', 'drop');
    }
    return this.info(range.size, true);
  }

  private info(size: number, ranges: boolean): SourceInfo {
    this.size = size;
    return { size, identity: `url:${this.url.href}`, ranges, validators: this.validators };
  }

  private async fetchRange(offset: number, length: number, signal: AbortSignal | undefined, onBytes: (bytes: number) => void): Promise<Buffer> {
    const response = await this.send(`bytes=${offset}-${offset + length - 1}`, signal);
    if (response.status !== 206) throw this.statusError(response);
    this.checkResponse(response);
    const range = parseContentRange(response.headers['content-range']);
    if (range?.size !== undefined && range.size !== this.size) throw this.changed(`now has ${range.size} bytes`, response.body);
    if (range?.first !== offset || range.last !== offset + length - 1 || range.size === undefined) {
      response.body.destroy();
      const got = response.headers['content-range'] ?? 'no Content-Range';
      throw new SourceError('ERANGE', `answered "${got}" to a request for bytes ${offset}-${offset + length - 1}`, 'retry');
    }
    return readBody(response.body, length, onBytes);
  }

  private async send(range: string | undefined, signal?: AbortSignal): Promise<HttpResponse> {
    try {
      const response = await this.client.get(this.url, range, signal, this.auth);
      // Redirects are followed once; the next request goes straight to where they led.
      this.url = response.url;
      return response;
    } catch (err) {
      throw isAbort(err) ? err : transportError(err);
    }
  }

  /** Same encoding and validators as at the start; anything else means other bytes. */
  private checkResponse(response: HttpResponse): void {
    this.checkEncoding(response);
    const now = validatorsOf(response);
    if (this.validators.etag !== undefined && now.etag !== this.validators.etag) throw this.changed('changed since the start (new ETag)', response.body);
    if (this.validators.lastModified !== undefined && now.lastModified !== this.validators.lastModified) {
      throw this.changed('changed since the start (new Last-Modified)', response.body);
    }
  }

  private checkEncoding(response: HttpResponse): void {
    const encoding = response.headers['content-encoding'];
    if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
      response.body.destroy();
      throw new SourceError('EENCODING', `sent a ${encoding}-encoded body though identity was asked`, 'drop');
    }
  }

  private changed(message: string, body: Readable): SourceError {
    body.destroy();
    return new SourceError('ECHANGED', message, 'drop');
  }

  private statusError(response: HttpResponse): SourceError {
    response.body.destroy();
    const { status } = response;
    const message = `HTTP ${status}`;
    if (status === 429 || status === 503) {
      const wait = Math.min(MAX_BACKOFF_MS, retryAfterMs(response.headers['retry-after']) ?? DEFAULT_BACKOFF_MS);
      return new SourceError(`EHTTP${status}`, `${message} (busy)`, 'backoff', { retryAfterMs: wait });
    }
    if (status === 200) return new SourceError('ENORANGES', 'answered 200 (the whole file) to a range request: it cannot serve blocks', 'drop');
    if (status === 416) return new SourceError('EHTTP416', `${message}: the range is past its end (the file changed?)`, 'drop');
    if (status >= 500) return new SourceError(`EHTTP${status}`, message, 'retry');
    return new SourceError(`EHTTP${status}`, message, 'drop');
  }
}

/** Exactly `length` bytes: a longer body is not the range asked for; a shorter one keeps what came. */
async function readBody(body: Readable, length: number, onBytes: (bytes: number) => void): Promise<Buffer> {
  const data = Buffer.allocUnsafe(length);
  let got = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (got + chunk.length > length) throw new SourceError('ELONGBODY', `sent more than the ${length} bytes asked for`, 'retry');
      chunk.copy(data, got);
      got += chunk.length;
      onBytes(chunk.length);
    }
  } catch (err) {
    if (isAbort(err)) throw err;
    if (err instanceof SourceError) throw err;
    const { code, message } = transportError(err);
    throw new SourceError(code, message, 'retry', { partial: data.subarray(0, got) });
  }
  if (got < length) throw new SourceError('ESHORTBODY', `the body ended after ${got} of ${length} bytes`, 'retry', { partial: data.subarray(0, got) });
  return data;
}

async function drain(body: Readable): Promise<void> {
  for await (const chunk of body) void chunk;
}

function validatorsOf(response: HttpResponse): Validators {
  const etag = strongEtag(response.headers.etag);
  const lastModified = response.headers['last-modified'];
  return { ...(etag === undefined ? {} : { etag }), ...(lastModified === undefined ? {} : { lastModified }) };
}

function transportError(err: unknown): SourceError {
  const { code, message } = errorData(err);
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return new SourceError('ESTALL', 'sent nothing for the stall timeout', 'retry');
  if (TLS_CODES.test(code)) return new SourceError(code, `TLS: ${message}`, 'drop');
  if (code === 'ETOOMANYREDIRECTS') return new SourceError(code, message, 'drop');
  return new SourceError(code, message, 'retry');
}

/** At the start a source that fails is left out; retrying belongs to a running transfer. */
function asDrop(err: unknown): SourceError {
  if (err instanceof SourceError) return err.verdict === 'drop' ? err : new SourceError(err.code, err.message, 'drop');
  const { code, message } = errorData(err);
  return new SourceError(code, message, 'drop');
}

/** The URL for messages: no credentials, no query (signed URLs carry tokens there). */
export function redact(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}${url.search === '' ? '' : '?…'}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
