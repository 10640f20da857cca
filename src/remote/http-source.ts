/**
 * An HTTP(S) URL as a BlockSource: every block is one ranged GET (RFC 9110 §14), its body handed to the
 * assembler as it arrives (which checks and writes it: transfer.ts). Runs on the main thread's event
 * loop: network I/O is waiting, not work, and a worker thread would only add a copy of every byte.
 *
 * A block's bytes are accepted only from a 206 whose Content-Range is exactly the range asked for, of a
 * file of the size and validators (strong ETag, Last-Modified) seen at the start. What a response means
 * for the source is decided here and handed to the assembler as a SourceError verdict.
 */
import type { Readable } from 'node:stream';
import { errorData } from '../common/errors.js';
import { redactUrl } from '../common/redact-url.js';
import { SourceError, isAbort, type BlockRequest, type BlockSource, type SourceInfo, type Transfer, type TransferContext, type Validators } from '../assemble/source.js';
import { parseContentRange, retryAfterMs, strongEtag, unsatisfiedSize } from './content-range.js';
import { BodyTooLong, discardBody, type BodyDecision, type BodyRead, type HttpClient, type HttpResponse, type ResponseHead } from './http-client.js';

/** A server's Retry-After is obeyed up to this; a longer wait is its problem, not the download's. */
export const MAX_BACKOFF_MS = 30_000;
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
    // No credentials (moved to a header above), no query: signed URLs carry tokens there.
    this.label = redactUrl(this.url.href);
  }

  /** A busy answer (429/503) is passed on as such: the caller decides how long to wait; anything else leaves the source out. */
  async open(signal?: AbortSignal): Promise<SourceInfo> {
    try {
      return await this.probe(signal);
    } catch (err) {
      throw err instanceof SourceError && err.verdict === 'backoff' ? err : asDrop(err);
    }
  }

  /** Sample windows and repair votes; a busy answer is passed on (the engine asks again, see askWhileBusy). */
  async read(offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    return Buffer.concat(await this.fetchRange(offset, length, signal, undefined), length);
  }

  /** The body goes to `onData` as it arrives: the assembler keeps what it needs of it. */
  async transfer(request: BlockRequest, context: TransferContext): Promise<Transfer> {
    const { onBytes, onData } = context;
    const onChunk = (chunk: Buffer) => {
      onBytes(chunk.length);
      onData(chunk);
    };
    await this.fetchRange(request.offset, request.length, context.signal, onChunk);
    return { kind: 'handed' };
  }

  async *stream(signal: AbortSignal): AsyncIterable<Buffer> {
    const response = await this.send(undefined, signal);
    await withBody(response, () => {
      if (response.status !== 200) throw this.statusError(response);
      this.checkResponse(response);
      const length = Number(response.headers['content-length'] ?? Number.NaN);
      if (length !== this.size) throw this.changed(`now sends ${Number.isNaN(length) ? 'no' : length} bytes`);
    });
    try {
      for await (const chunk of response.body as AsyncIterable<Buffer>) yield chunk;
    } catch (err) {
      throw isAbort(err) ? err : transportError(err);
    }
  }

  /** The first request: one byte, to learn the size, the validators, the final URL and whether ranges work. */
  private async probe(signal: AbortSignal | undefined): Promise<SourceInfo> {
    const response = await this.send('bytes=0-0', signal);
    return withBody(response, () => this.probed(response));
  }

  private async probed(response: HttpResponse): Promise<SourceInfo> {
    this.validators = validatorsOf(response);
    this.checkEncoding(response);
    if (response.status === 416) {
      const size = unsatisfiedSize(response.headers['content-range']);
      discardBody(response.body);
      if (size !== 0) throw new SourceError('ERANGE', 'refused the range bytes=0-0 (HTTP 416)', 'drop');
      return this.info(0, true);
    }
    if (response.status === 200) {
      discardBody(response.body);
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

  /**
   * Exactly `length` bytes at `offset`, handed to `onChunk` as they arrive (what a broken body delivered
   * is then the receiver's to keep), or without it returned as the chunks arrived.
   */
  private async fetchRange(offset: number, length: number, signal: AbortSignal | undefined, onChunk: ((chunk: Buffer) => void) | undefined): Promise<readonly Buffer[]> {
    const range = `bytes=${offset}-${offset + length - 1}`;
    const decide = (head: ResponseHead): BodyDecision => {
      // Redirects are followed once; the next request goes straight to where they led.
      this.url = head.url;
      this.checkRange(head, offset, length);
      return { limit: length };
    };
    let read: BodyRead;
    try {
      read = await this.client.getBody(this.url, range, signal, this.auth, decide, onChunk);
    } catch (err) {
      throw isAbort(err) || err instanceof SourceError ? err : transportError(err);
    }
    const { chunks, received, error } = read;
    if (error !== undefined) {
      if (isAbort(error)) throw error;
      if (error instanceof BodyTooLong) throw new SourceError(error.code, error.message, 'retry');
      const { code, message } = transportError(error);
      throw new SourceError(code, message, 'retry');
    }
    if (received < length) throw new SourceError('ESHORTBODY', `the body ended after ${received} of ${length} bytes`, 'retry');
    return chunks;
  }

  /** Only a 206 of exactly the range asked for, of the file seen at the start, is read. */
  private checkRange(head: ResponseHead, offset: number, length: number): void {
    if (head.status !== 206) throw this.statusError(head);
    this.checkResponse(head);
    const range = parseContentRange(head.headers['content-range']);
    if (range?.size !== undefined && range.size !== this.size) throw this.changed(`now has ${range.size} bytes`);
    if (range?.first !== offset || range.last !== offset + length - 1 || range.size === undefined) {
      const got = head.headers['content-range'] ?? 'no Content-Range';
      throw new SourceError('ERANGE', `answered "${got}" to a request for bytes ${offset}-${offset + length - 1}`, 'retry');
    }
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
  private checkResponse(head: ResponseHead): void {
    this.checkEncoding(head);
    const now = validatorsOf(head);
    if (this.validators.etag !== undefined && now.etag !== this.validators.etag) throw this.changed('changed since the start (new ETag)');
    if (this.validators.lastModified !== undefined && now.lastModified !== this.validators.lastModified) {
      throw this.changed('changed since the start (new Last-Modified)');
    }
  }

  private checkEncoding(head: ResponseHead): void {
    const encoding = head.headers['content-encoding'];
    if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
      throw new SourceError('EENCODING', `sent a ${encoding}-encoded body though identity was asked`, 'drop');
    }
  }

  private changed(message: string): SourceError {
    return new SourceError('ECHANGED', message, 'drop');
  }

  private statusError(head: ResponseHead): SourceError {
    const { status } = head;
    const message = `HTTP ${status}`;
    if (status === 429 || status === 503) {
      const asked = retryAfterMs(head.headers['retry-after']);
      return new SourceError(`EHTTP${status}`, `${message} (busy)`, 'backoff', asked === undefined ? {} : { retryAfterMs: Math.min(MAX_BACKOFF_MS, asked) });
    }
    if (status === 200) return new SourceError('ENORANGES', 'answered 200 (the whole file) to a range request: it cannot serve blocks', 'drop');
    if (status === 416) return new SourceError('EHTTP416', `${message}: the range is past its end (the file changed?)`, 'drop');
    if (status >= 500) return new SourceError(`EHTTP${status}`, message, 'retry');
    return new SourceError(`EHTTP${status}`, message, 'drop');
  }
}

async function drain(body: Readable): Promise<void> {
  for await (const chunk of body) void chunk;
}

/** Runs `use` on a response; if it throws, the body is left unread (and its connection closed). */
async function withBody<T>(response: HttpResponse, use: () => T | Promise<T>): Promise<T> {
  try {
    return await use();
  } catch (err) {
    discardBody(response.body);
    throw err;
  }
}

function validatorsOf(head: ResponseHead): Validators {
  const etag = strongEtag(head.headers.etag);
  const lastModified = head.headers['last-modified'];
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
