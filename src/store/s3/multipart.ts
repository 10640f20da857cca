/**
 * A multipart upload of one file: CreateMultipartUpload (or a killed run's upload of the same key,
 * resumed), its parts (PARTS_IN_FLIGHT at a time, each with Content-MD5, which the store checks),
 * CompleteMultipartUpload; on any failure the upload is aborted. The parts are read and hashed in order
 * on a pool thread (part-worker.ts) that stays at most PARTS_IN_FLIGHT parts ahead of the sends, so a
 * file's memory is that many parts.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListPartsCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from './sdk.js';
import type { Piscina } from 'piscina';
import type { ProgressSink } from '../../progress/events.js';
import { etagHex } from './client.js';
import { partSizeFor } from './part-size.js';
import type { PartCredit, PartMessage, PartTask } from './part-task.js';

/** Parts of one file being sent at once: 16 transfers keep 4 large files going side by side. */
export const PARTS_IN_FLIGHT = 4;

export interface MultipartTarget {
  readonly client: S3Client;
  readonly bucket: string;
  readonly key: string;
  readonly metadata: Record<string, string>;
  /** The upload a killed run left for this key, to resume. */
  readonly resume?: string | undefined;
}

export interface MultipartSent {
  /** The multipart ETag the content gives (`<md5 of the parts' md5s>-<parts>`), to compare with the store's. */
  readonly expectedEtag: string;
  readonly sha256: string;
}

/** A part already in the store: its size and ETag (for a part, the hex MD5 of its bytes), as ListParts gives them. */
interface StoredPart {
  readonly size: number;
  readonly etag: string;
}

export async function uploadMultipart(target: MultipartTarget, fd: number, size: number, pool: Piscina, progress: ProgressSink): Promise<MultipartSent> {
  const { client, bucket, key } = target;
  const partSize = partSizeFor(size);
  const { uploadId, stored } = await startUpload(target);
  const reader = new PartReader(pool, { fd, size, partSize });
  try {
    const parts = await sendParts(Math.ceil(size / partSize), reader, async (number, part) => {
      const kept = stored.get(number);
      // A part of the killed run stays only if it holds this content: same size, and its MD5 is this part's.
      if (kept !== undefined && kept.size === part.length && etagHex(kept.etag) === Buffer.from(part.md5, 'base64').toString('hex')) {
        progress.advance(part.length, 0);
        return { PartNumber: number, ETag: kept.etag };
      }
      const body = Buffer.from(part.body, 0, part.length);
      const answer = await client.send(
        new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: number, Body: body, ContentLength: body.length, ContentMD5: part.md5 }),
      );
      progress.advance(body.length, 0);
      return { PartNumber: number, ETag: answer.ETag };
    });
    await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts.completed } }));
    const partsMd5 = Buffer.concat(parts.md5s.map((md5) => Buffer.from(md5, 'base64')));
    return { expectedEtag: `${createHash('md5').update(partsMd5).digest('hex')}-${parts.md5s.length}`, sha256: await reader.digest() };
  } catch (err) {
    await reader.cancel();
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId })).catch(() => undefined);
    throw err;
  }
}

/** The killed run's upload with the parts it holds, or (none, or gone since it was listed) a new upload. */
async function startUpload(target: MultipartTarget): Promise<{ uploadId: string | undefined; stored: Map<number, StoredPart> }> {
  const { client, bucket, key } = target;
  if (target.resume !== undefined) {
    const stored = await storedParts(client, bucket, key, target.resume);
    if (stored !== undefined) return { uploadId: target.resume, stored };
  }
  const created = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, Metadata: target.metadata }));
  return { uploadId: created.UploadId, stored: new Map() };
}

async function storedParts(client: S3Client, bucket: string, key: string, uploadId: string): Promise<Map<number, StoredPart> | undefined> {
  const stored = new Map<number, StoredPart>();
  let marker: string | undefined;
  try {
    do {
      const page = await client.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumberMarker: marker }));
      for (const part of page.Parts ?? []) {
        if (part.PartNumber !== undefined && part.ETag !== undefined) stored.set(part.PartNumber, { size: part.Size ?? -1, etag: part.ETag });
      }
      marker = page.IsTruncated === true ? page.NextPartNumberMarker : undefined;
    } while (marker !== undefined);
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchUpload') return undefined;
    throw err;
  }
  return stored;
}

/**
 * Sends parts 1..count as the reader delivers them, at most PARTS_IN_FLIGHT at once. The first failure
 * ends it, after the other sends in flight have settled (none may land after the abort).
 */
async function sendParts(
  count: number,
  reader: PartReader,
  send: (number: number, part: PartMessage) => Promise<CompletedPart>,
): Promise<{ completed: CompletedPart[]; md5s: string[] }> {
  const completed: CompletedPart[] = [];
  const md5s: string[] = [];
  const sends: Promise<void>[] = [];
  let done = 0;
  let fail: (err: unknown) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(() => undefined);
  reader.allow(Math.min(count, PARTS_IN_FLIGHT));
  try {
    for (let index = 0; index < count; index++) {
      const part = await Promise.race([reader.next(), failed]);
      md5s.push(part.md5);
      const sending = send(index + 1, part).then((answer) => {
        completed[index] = answer;
        done++;
        reader.allow(Math.min(count, done + PARTS_IN_FLIGHT), part.body);
      }, fail);
      sends.push(sending);
    }
    await Promise.race([Promise.all(sends), failed]);
    return { completed, md5s };
  } catch (err) {
    await Promise.allSettled(sends);
    throw err;
  }
}

/** The main thread's end of a part-worker task: grants it parts to read and takes them in order. */
class PartReader {
  private readonly port: MessagePort;
  private readonly sha256: Promise<string>;
  private readonly arrived: PartMessage[] = [];
  private readonly waiting: ((part: PartMessage) => void)[] = [];

  constructor(pool: Piscina, task: Omit<PartTask, 'port'>) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    port1.on('message', (part: PartMessage) => {
      const taker = this.waiting.shift();
      if (taker === undefined) this.arrived.push(part);
      else taker(part);
    });
    this.sha256 = pool.run({ ...task, port: port2 } satisfies PartTask, { transferList: [port2] }) as Promise<string>;
    // A failure surfaces through next() or digest(); until then it must not be an unhandled rejection.
    this.sha256.catch(() => undefined);
  }

  /** Lets the worker read up to `parts` parts, giving it back a sent part's buffer. */
  allow(parts: number, spare?: ArrayBuffer): void {
    const credit: PartCredit = { parts, spare };
    this.port.postMessage(credit, spare === undefined ? [] : [spare]);
  }

  /** The next part; rejects if the worker failed (a short read: the file shrank). */
  next(): Promise<PartMessage> {
    const ready = this.arrived.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    // The worker's result may overtake its last messages (another channel): only its failure ends the wait.
    const never = new Promise<never>(() => undefined);
    return Promise.race([new Promise<PartMessage>((resolve) => this.waiting.push(resolve)), this.sha256.then(() => never)]);
  }

  /** The file's SHA-256, once every part was taken. */
  async digest(): Promise<string> {
    try {
      return await this.sha256;
    } finally {
      this.port.close();
    }
  }

  /** Gives up: the worker stops before its next part; resolves once it no longer reads the fd. */
  async cancel(): Promise<void> {
    const stop: PartCredit = { parts: 0, stop: true };
    this.port.postMessage(stop);
    await this.sha256.catch(() => undefined);
    this.port.close();
  }
}
