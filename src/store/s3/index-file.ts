/**
 * The store's index: one gzip'd JSON object per dest, beside the objects, holding what a listing does
 * not return (ListObjectsV2 gives key, size and ETag, not user metadata): each entry's kind, mtime, mode,
 * owner, link target and SHA-256. A record counts only while the listed ETag and size still match it,
 * so an object changed behind backupd's back is copied again. The key cannot be produced by keyOfRel
 * (a bare `%` not followed by hex), so no file of the tree can clash with it.
 */
import { gunzipSync, gzipSync } from 'node:zlib';

export const INDEX_NAME = '%index.backupd.json.gz';

export interface IndexRecord {
  readonly kind: 'file' | 'dir' | 'symlink';
  readonly size: number;
  readonly etag: string;
  readonly mtimeMs: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Files: hex SHA-256 of the content (for --checksum and restore verification). */
  readonly sha256?: string;
  /** Symlinks: the target's bytes, base64. */
  readonly target?: string;
}

/** Key text (without the dest's prefix) → record. */
export type StoreIndex = Map<string, IndexRecord>;

export function parseIndex(data: Uint8Array): StoreIndex {
  const parsed = JSON.parse(gunzipSync(data).toString('utf8')) as { version: number; entries: Record<string, IndexRecord> };
  if (parsed.version !== 1) return new Map();
  return new Map(Object.entries(parsed.entries));
}

export function serializeIndex(index: StoreIndex): Buffer {
  return gzipSync(JSON.stringify({ version: 1, entries: Object.fromEntries(index) }));
}
