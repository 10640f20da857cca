/**
 * What the assembler reads from: one interface, two implementations chosen at the edge (cli/) — a local
 * copy (local-source.ts: positioned reads on the pool) and an HTTP(S) URL (remote/http-source.ts: ranged
 * GETs on the main thread's event loop). The engine never asks which one it has.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Piscina } from 'piscina';
import type { RawPath } from '../common/raw-path.js';
import type { PieceAlgorithm } from './types.js';

/** What a source says identifies its content; a later run trusts its old blocks only if these still match. */
export interface Validators {
  /** A strong ETag only: a weak one does not promise the same bytes. */
  readonly etag?: string;
  readonly lastModified?: string;
}

export interface SourceInfo {
  readonly size: number;
  /** Two sources with one identity are one source given twice (same dev:ino, same final URL). */
  readonly identity: string;
  /** Whether blocks can be read at any offset; a server that ignores Range can only be read whole. */
  readonly ranges: boolean;
  readonly validators: Validators;
  /** Permission bits for the output (local copies); remote files get the umask's default. */
  readonly mode?: number;
}

/** The bytes of a block to fetch: all of it, or the rest after what a short body delivered. */
export interface BlockRequest {
  readonly offset: number;
  readonly length: number;
}

/** Shared by the sources that write blocks straight into the .part from the pool. */
export interface TransferContext {
  readonly part: RawPath;
  /** The block pool, started on first use: a run from remote sources only never starts it. */
  readonly pool: () => Piscina;
  /** The download has piece hashes: a direct writer must report the hash of what it wrote. */
  readonly verify: PieceAlgorithm | undefined;
  /** Bytes arrived (for the bar and the throughput of the source); may be negative to take back a failed attempt. */
  readonly onBytes: (bytes: number) => void;
  /**
   * A buffered source hands over each piece of the body as it arrives, in order, right after onBytes,
   * and keeps none of it: the assembler writes it into the .part at once or keeps it (transfer.ts).
   */
  readonly onData: (chunk: Buffer) => void;
  /** Aborted when another copy of the block won the race, or the run stops. */
  readonly signal: AbortSignal;
}

/**
 * A block's bytes: either already in the .part (a local copy written on the pool, with the sha256 of what
 * was written) or handed to the assembler as they arrived, to verify and write itself (a remote source;
 * a duplicate from the endgame that loses the race is then simply dropped, never written over the winner).
 */
export type Transfer =
  /** `digest`: of the bytes written, when asked (TransferContext.verify). `bytesRead` is exact; progress reported on the way may still be arriving. */
  | { readonly kind: 'written'; readonly digest: string; readonly bytesRead: number }
  /** Every byte went to TransferContext.onData. */
  | { readonly kind: 'handed' };

export interface BlockSource {
  /** For messages and --json; never holds credentials or query strings. */
  readonly label: string;
  /** `direct` sources write the .part themselves and so cannot race a duplicate of their block. */
  readonly writes: 'direct' | 'buffered';
  /** Concurrent blocks worth giving this source (remote: the per-host connection limit). */
  readonly slots: number;
  /** Where it is and what it holds; throws SourceError. Called once, before anything else (again only after a `backoff`). */
  open(signal?: AbortSignal): Promise<SourceInfo>;
  /** `length` bytes at `offset`, in memory (sample windows, repair votes). Throws SourceError. */
  read(offset: number, length: number, signal?: AbortSignal): Promise<Buffer>;
  /** One block for the .part. Throws SourceError. */
  transfer(request: BlockRequest, context: TransferContext): Promise<Transfer>;
  /** The whole file from byte 0, in order, for a single source that cannot serve ranges. */
  stream?(signal: AbortSignal): AsyncIterable<Buffer>;
}

/**
 * What went wrong with a source, and what the assembler should do about it:
 *  - `retry`: this attempt failed (timeout, reset, wrong bytes); the block goes to another source;
 *  - `drop`: the source is no use any more (gone, changed, wrong size, cannot serve ranges);
 *  - `backoff`: it asked us to wait (429/503); the block goes back untouched and the source pauses;
 *  - `output`: the .part could not be written: not the source's fault, the run stops.
 */
export type SourceVerdict = 'retry' | 'drop' | 'backoff' | 'output';

export class SourceError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly verdict: SourceVerdict,
    /**
     * `retryAfterMs`: the server's Retry-After (already capped), absent when it named none.
     * `bytesRead`: what a direct writer read before failing (its progress messages may lag behind).
     */
    readonly extra: { readonly retryAfterMs?: number; readonly bytesRead?: number } = {},
  ) {
    super(message);
    this.name = 'SourceError';
  }
}

export function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || (err as NodeJS.ErrnoException).code === 'ABORT_ERR' || (err as NodeJS.ErrnoException).code === 'UND_ERR_ABORTED');
}

/** Without Retry-After, the first pause before asking a busy source again; it doubles while the source stays busy. */
const FIRST_BACKOFF_MS = 200;
/** ...up to this: a source busy half the time is asked again soon, one busy for good is not hammered. */
const BACKOFF_CAP_MS = 5000;
/** Asks of one probe, sample window or repair vote while the source says busy, before it is left out. */
const BUSY_ASKS = 8;

/** How long a busy source is left alone after its `inARow`-th busy answer in a row: as it asked, else a capped doubling. */
export function backoffMs(err: SourceError, inARow: number): number {
  return err.extra.retryAfterMs ?? Math.min(BACKOFF_CAP_MS, FIRST_BACKOFF_MS * 2 ** Math.max(0, inARow - 1));
}

export interface BusyWatch {
  readonly signal?: AbortSignal;
  /** True while a request waits out a busy answer, false once it asks again. */
  readonly onBusy?: (busy: boolean) => void;
}

/** Runs `request` again while the source says it is busy (`backoff`), waiting as backoffMs says, BUSY_ASKS times at most. */
export async function askWhileBusy<T>(request: () => Promise<T>, watch: BusyWatch = {}): Promise<T> {
  for (let ask = 1; ; ask++) {
    try {
      return await request();
    } catch (err) {
      if (!(err instanceof SourceError) || err.verdict !== 'backoff' || ask === BUSY_ASKS) throw err;
      watch.onBusy?.(true);
      try {
        await delay(backoffMs(err, ask), undefined, { signal: watch.signal });
      } finally {
        watch.onBusy?.(false);
      }
    }
  }
}
