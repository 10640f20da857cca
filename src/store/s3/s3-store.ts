/**
 * An S3 bucket (or a prefix of one) as a DestStore. One object per file, key = prefix + keyOfRel(rel)
 * (keys.ts); folders are empty marker objects `<key>/`; symlinks are empty objects whose target is in
 * metadata. Mode, mtime, owner and SHA-256 go both into each object's metadata (so a bucket explains
 * itself) and into the index (index-file.ts), which is what a listing is planned from: no HEAD per object.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  type S3Client,
} from './sdk.js';
import type { Piscina } from 'piscina';
import { Semaphore } from '../../common/semaphore.js';
import { createPool } from '../../common/worker-pool.js';
import type { EntryFailure } from '../../common/errors.js';
import { fsPath, type RawPath } from '../../common/raw-path.js';
import type { DirEntry, Entry, FileEntry, SymlinkEntry, Tree } from '../../plan/types.js';
import type { ProgressSink } from '../../progress/events.js';
import type { DestStore, StoreWrite } from '../types.js';
import { describeS3Error, etagHex, makeClient, s3FailureData, type S3Settings } from './client.js';
import { INDEX_NAME, parseIndex, serializeIndex, type IndexRecord, type StoreIndex } from './index-file.js';
import { keyOfRel, relOfKey } from './keys.js';
import { listPrefix, requestFirstPage } from './listing.js';
import { PARTS_IN_FLIGHT, uploadMultipart } from './multipart.js';
import { SINGLE_PUT_MAX } from './part-size.js';

const DELETE_BATCH = 1000;

export class S3Store implements DestStore {
  readonly display: string;
  readonly client: S3Client;
  private index: StoreIndex = new Map();
  /** Whether this run changed the index (a no-op rerun writes nothing). */
  private indexChanged = false;
  /** Key texts (without prefix) the last listing returned, sorted, for removing a folder's contents. */
  private listed: string[] = [];
  /**
   * Multipart uploads in progress, one part-reading thread each: enough of them to keep `transfers`
   * parts in flight. Started by the first large file, stopped at commit.
   */
  private readonly partThreads: number;
  private partReaders: { readonly pool: Piscina; readonly slots: Semaphore } | undefined;
  /** Key (with prefix) → the latest multipart upload a killed run left for it, until resumed or aborted. */
  private readonly staleUploads = new Map<string, { readonly uploadId: string; readonly initiated: number }>();
  /** Older uploads of a key that has a later one: aborted at commit. */
  private readonly abandoned: { readonly key: string; readonly uploadId: string }[] = [];

  constructor(
    readonly bucket: string,
    readonly prefix: string,
    settings: S3Settings,
    private readonly transfers: number,
  ) {
    this.display = `s3://${bucket}/${prefix}`;
    this.client = makeClient(settings, transfers * 2);
    this.partThreads = Math.ceil(transfers / PARTS_IN_FLIGHT);
  }

  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      throw describeS3Error(err, this.display);
    }
  }

  async list(): Promise<Tree> {
    // The index and the listing's first page at once: one round trip instead of two.
    const firstPage = requestFirstPage(this);
    firstPage.catch(() => undefined);
    this.index = await this.readIndex();
    const entries = new Map<RawPath, Entry>();
    entries.set('', this.dirEntry('', this.index.get('')));
    this.listed = [];
    await listPrefix(this, firstPage, this.index.keys(), (objects) => {
      for (const object of objects) {
        const key = (object.Key ?? '').slice(this.prefix.length);
        if (key === INDEX_NAME || key === '') continue;
        this.listed.push(key);
        const entry = this.entryOf(key, object.Size ?? 0, etagHex(object.ETag), object.LastModified?.getTime() ?? 0);
        entries.set(entry.rel, entry);
      }
    });
    // Listed a range at a time; sorted in the order keysBelow searches (UTF-16 code units).
    this.listed.sort(byCodeUnits);
    return { root: this.display, entries: preOrder(entries), temps: [], failures: [] };
  }

  /**
   * Finds the multipart uploads a killed run left under this prefix (they hold space and are never
   * completed by S3 itself): the latest one of each key is resumed if that file is uploaded again with
   * the same part size, and every other is aborted at commit.
   */
  async findStaleUploads(): Promise<void> {
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const page = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: this.prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }));
      for (const upload of page.Uploads ?? []) {
        if (upload.Key === undefined || upload.UploadId === undefined) continue;
        const initiated = upload.Initiated?.getTime() ?? 0;
        const latest = this.staleUploads.get(upload.Key);
        if (latest !== undefined && latest.initiated > initiated) this.abandoned.push({ key: upload.Key, uploadId: upload.UploadId });
        else {
          if (latest !== undefined) this.abandoned.push({ key: upload.Key, uploadId: latest.uploadId });
          this.staleUploads.set(upload.Key, { uploadId: upload.UploadId, initiated });
        }
      }
      const more = page.IsTruncated === true;
      keyMarker = more ? page.NextKeyMarker : undefined;
      uploadIdMarker = more ? page.NextUploadIdMarker : undefined;
    } while (keyMarker !== undefined);
  }

  /** Aborts the stale uploads this run did not resume. */
  private async abortStaleUploads(): Promise<void> {
    const leftover = [...this.abandoned.splice(0), ...[...this.staleUploads].map(([key, { uploadId }]) => ({ key, uploadId }))];
    this.staleUploads.clear();
    for (const { key, uploadId } of leftover) {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId })).catch((err: unknown) => {
        // Already completed or aborted (by another run): nothing is left to free.
        if ((err as { name?: string }).name !== 'NoSuchUpload') throw err;
      });
    }
  }

  async writeFile(entry: FileEntry, sourcePath: RawPath, options: { sameContentSkips: boolean; progress: ProgressSink }): Promise<StoreWrite> {
    const key = keyOfRel(entry.rel);
    let handle: fs.promises.FileHandle;
    try {
      handle = await fs.promises.open(fsPath(sourcePath), 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      if (code === 'ENOENT') return { status: 'vanished', code, message: 'vanished since the scan' };
      return { status: 'failed', ...s3FailureData(err) };
    }
    let before: fs.Stats | undefined;
    try {
      before = await handle.stat();
      const known = this.index.get(key);
      if (options.sameContentSkips && known?.sha256 !== undefined && known.size === before.size) {
        if ((await sha256Of(handle)) === known.sha256) return { status: 'unchanged' };
      }
      // Permission bits only, as the walk records them (the type is the entry's kind).
      const mode = before.mode & 0o7777;
      const meta = { ...entry, size: before.size, mtimeMs: before.mtimeMs, mode, uid: before.uid, gid: before.gid };
      const sent = before.size <= SINGLE_PUT_MAX ? await this.putWhole(key, handle, meta) : await this.putMultipart(key, handle, meta, options.progress);
      // The object holds a mix of versions: it stays out of the index, so the next run copies it again.
      if (await changedSince(handle, before)) return this.changed(key);
      if (sent.etag !== sent.expectedEtag) {
        this.forget(key);
        return { status: 'failed', code: 'EVERIFY', message: `the store's ETag ${sent.etag} is not the uploaded content's ${sent.expectedEtag}` };
      }
      this.record(key, { kind: 'file', size: before.size, etag: sent.etag, mtimeMs: before.mtimeMs, mode, uid: before.uid, gid: before.gid, sha256: sent.sha256 });
      if (before.size <= SINGLE_PUT_MAX) options.progress.advance(before.size, 1);
      else options.progress.advance(0, 1);
      return { status: 'written', bytes: before.size };
    } catch (err) {
      // A file that shrank while it was read ends the upload early; that is a change, not a store failure.
      if (before !== undefined && (await changedSince(handle, before).catch(() => false))) return this.changed(key);
      return { status: 'failed', ...s3FailureData(err) };
    } finally {
      await handle.close();
    }
  }

  private changed(key: string): StoreWrite {
    this.forget(key);
    return { status: 'failed', code: 'ECHANGED', message: 'changed while it was uploaded; not recorded, copied again next run' };
  }

  async mkdir(rel: RawPath): Promise<void> {
    const key = `${keyOfRel(rel)}/`;
    const put = await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.prefix + key, Body: new Uint8Array(0) }));
    this.record(key, { kind: 'dir', size: 0, etag: etagHex(put.ETag), mtimeMs: Date.now(), mode: 0o700, uid: 0, gid: 0 });
  }

  async symlink(entry: SymlinkEntry): Promise<void> {
    const key = keyOfRel(entry.rel);
    const target = Buffer.from(entry.target, 'latin1').toString('base64');
    const put = await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: this.prefix + key, Body: new Uint8Array(0), Metadata: { ...metadataOf(entry), 'backupd-symlink': target } }),
    );
    this.record(key, { kind: 'symlink', size: 0, etag: etagHex(put.ETag), mtimeMs: entry.mtimeMs, mode: entry.mode, uid: entry.uid, gid: entry.gid, target });
  }

  async setMeta(entry: FileEntry | DirEntry): Promise<void> {
    // The index is what plans and restores read; the object's own metadata keeps what it was uploaded with
    // (rewriting it would be a server-side copy of the whole object).
    if (entry.rel === '') {
      this.record('', { kind: 'dir', size: 0, etag: '', mtimeMs: entry.mtimeMs, mode: entry.mode, uid: entry.uid, gid: entry.gid });
      return;
    }
    const key = entry.kind === 'dir' ? `${keyOfRel(entry.rel)}/` : keyOfRel(entry.rel);
    const known = this.index.get(key);
    if (known === undefined) return;
    this.record(key, { ...known, mtimeMs: entry.mtimeMs, mode: entry.mode, uid: entry.uid, gid: entry.gid });
  }

  async remove(rel: RawPath, kind: 'file' | 'dir' | 'symlink' | 'special'): Promise<void> {
    const key = keyOfRel(rel);
    const keys = kind === 'dir' ? keysBelow(this.listed, `${key}/`) : [key];
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH);
      const answer = await this.client.send(
        new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((k) => ({ Key: this.prefix + k })), Quiet: true } }),
      );
      const failed = answer.Errors?.[0];
      if (failed !== undefined) throw Object.assign(new Error(`could not delete: ${failed.Code ?? 'error'}`), { code: failed.Code ?? 'ES3' });
      for (const k of batch) this.forget(k);
    }
  }

  async commit(): Promise<readonly EntryFailure[]> {
    await this.partReaders?.pool.destroy();
    this.partReaders = undefined;
    const failures: EntryFailure[] = [];
    try {
      await this.abortStaleUploads();
    } catch (err) {
      failures.push({ path: `${this.display} (a killed run's multipart uploads)`, ...s3FailureData(err) });
    }
    if (!this.indexChanged) return failures;
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.prefix + INDEX_NAME, Body: await serializeIndex(this.index) }));
    } catch (err) {
      failures.push({ path: this.display + INDEX_NAME, ...s3FailureData(err) });
    }
    return failures;
  }

  /** A file's content as a stream, with the record it was indexed with (restore). */
  async open(rel: RawPath): Promise<{ body: NodeJS.ReadableStream; record: IndexRecord | undefined }> {
    const key = keyOfRel(rel);
    const answer = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
    return { body: answer.Body as NodeJS.ReadableStream, record: this.index.get(key) };
  }

  private record(key: string, value: IndexRecord): void {
    this.index.set(key, value);
    this.indexChanged = true;
  }

  private forget(key: string): void {
    this.indexChanged = this.index.delete(key) || this.indexChanged;
  }

  private async readIndex(): Promise<StoreIndex> {
    try {
      const answer = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + INDEX_NAME }));
      return await parseIndex(answer.Body as NodeJS.ReadableStream);
    } catch (err) {
      if ((err as { name?: string }).name === 'NoSuchKey') return new Map();
      throw err;
    }
  }

  private entryOf(key: string, size: number, etag: string, lastModified: number): Entry {
    if (key.endsWith('/')) return this.dirEntry(relOfKey(key.slice(0, -1)), this.current(key, size, etag));
    const rel = relOfKey(key);
    const record = this.current(key, size, etag);
    if (record?.kind === 'symlink' && record.target !== undefined) {
      return { kind: 'symlink', rel, target: Buffer.from(record.target, 'base64').toString('latin1'), mode: record.mode, mtimeMs: record.mtimeMs, atimeMs: record.mtimeMs, ctimeMs: 0, uid: record.uid, gid: record.gid };
    }
    // Without a current record the mtime is unknown (NaN never compares equal): the file is copied again.
    const mtimeMs = record?.mtimeMs ?? Number.NaN;
    return { kind: 'file', rel, size, mode: record?.mode ?? 0o644, mtimeMs, atimeMs: record?.mtimeMs ?? lastModified, ctimeMs: 0, uid: record?.uid ?? 0, gid: record?.gid ?? 0, ino: 0, dev: 0, nlink: 1 };
  }

  private current(key: string, size: number, etag: string): IndexRecord | undefined {
    const record = this.index.get(key);
    return record !== undefined && record.size === size && record.etag === etag ? record : undefined;
  }

  private dirEntry(rel: RawPath, record: IndexRecord | undefined): DirEntry {
    const mtimeMs = record?.mtimeMs ?? Number.NaN;
    return { kind: 'dir', rel, mode: record?.mode ?? 0o755, mtimeMs, atimeMs: mtimeMs, ctimeMs: 0, uid: record?.uid ?? 0, gid: record?.gid ?? 0, dev: 0 };
  }

  private async putWhole(key: string, handle: fs.promises.FileHandle, entry: FileEntry): Promise<Sent> {
    const body = await handle.readFile();
    const md5 = createHash('md5').update(body).digest();
    const sha256 = createHash('sha256').update(body).digest('hex');
    const put = await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: this.prefix + key, Body: body, ContentMD5: md5.toString('base64'), Metadata: { ...metadataOf(entry), 'backupd-sha256': sha256 } }),
    );
    return { etag: etagHex(put.ETag), expectedEtag: md5.toString('hex'), sha256 };
  }

  private async putMultipart(key: string, handle: fs.promises.FileHandle, entry: FileEntry, progress: ProgressSink): Promise<Sent> {
    const readers = (this.partReaders ??= { pool: createPool('store/s3/part-worker.js', this.partThreads), slots: new Semaphore(this.partThreads) });
    const stale = this.staleUploads.get(this.prefix + key);
    this.staleUploads.delete(this.prefix + key);
    const target = { client: this.client, bucket: this.bucket, key: this.prefix + key, metadata: metadataOf(entry), resume: stale?.uploadId };
    const sent = await readers.slots.run(() => uploadMultipart(target, handle.fd, entry.size, readers.pool, progress));
    // This RGW answers CompleteMultipartUpload with an empty ETag: ask for the object's.
    const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
    return { etag: etagHex(head.ETag), ...sent };
  }
}

interface Sent {
  readonly etag: string;
  readonly expectedEtag: string;
  readonly sha256: string;
}

async function changedSince(handle: fs.promises.FileHandle, before: fs.Stats): Promise<boolean> {
  const after = await handle.stat();
  return after.size !== before.size || after.mtimeMs !== before.mtimeMs;
}

async function sha256Of(handle: fs.promises.FileHandle): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(handle.createReadStream({ start: 0, autoClose: false }), hash);
  return hash.digest('hex');
}

function metadataOf(entry: FileEntry | SymlinkEntry): Record<string, string> {
  return { 'backupd-mode': entry.mode.toString(8), 'backupd-mtime': String(entry.mtimeMs), 'backupd-uid': String(entry.uid), 'backupd-gid': String(entry.gid) };
}

function byCodeUnits(a: string, b: string): number {
  return a === b ? 0 : a < b ? -1 : 1;
}

/** The keys of `sorted` (in code-unit order) that start with `prefix`: a binary search, then the run of them. */
function keysBelow(sorted: readonly string[], prefix: string): string[] {
  let low = 0;
  for (let high = sorted.length; low < high; ) {
    const middle = (low + high) >>> 1;
    if ((sorted[middle] as string) < prefix) low = middle + 1;
    else high = middle;
  }
  let end = low;
  while (end < sorted.length && (sorted[end] as string).startsWith(prefix)) end++;
  return sorted.slice(low, end);
}

/** Folders before their contents, as a walk lists them (the planner relies on it). */
function preOrder(entries: Map<RawPath, Entry>): Map<RawPath, Entry> {
  const sorted = [...entries.keys()].sort(byCodeUnits);
  return new Map(sorted.map((rel) => [rel, entries.get(rel) as Entry]));
}
