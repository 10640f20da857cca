/**
 * A prefix's listing (ListObjectsV2), several key ranges at a time where the store's last index says
 * where to cut: one page after another, a listing of a million keys is a thousand round trips.
 *
 * Ranges are cut only at keys whose characters are all below U+D800. For such a key, comparing
 * JavaScript strings (UTF-16 code units) agrees with the store's order (UTF-8 bytes) against any other
 * key: at the first position where they differ, the other key's character is either also below U+D800
 * (both orders agree) or is a surrogate or U+E000 and above (greater in both).
 */
import { ListObjectsV2Command, type S3Client, type ListObjectsV2CommandOutput, type _Object } from './sdk.js';

/** A range is about this many pages long, as the first page counts them. */
const RANGE_PAGES = 8;
const RANGES_AT_ONCE = 4;
/** Every this-many-th index key is a candidate cut: a sample sorted instead of the whole index. */
const SAMPLE_EVERY = 64;

export interface Listable {
  readonly client: S3Client;
  readonly bucket: string;
  readonly prefix: string;
  /** Keys per page asked for (MaxKeys); the store's own page size (1,000 for S3) when absent. */
  readonly pageKeys?: number;
}

/** The listing's first page: asked for on its own, so that it can go out together with other requests. */
export function requestFirstPage(store: Listable): Promise<ListObjectsV2CommandOutput> {
  return store.client.send(new ListObjectsV2Command({ Bucket: store.bucket, Prefix: store.prefix, MaxKeys: store.pageKeys }));
}

/**
 * Hands every object under the prefix to `take`, a page at a time, in no particular order across
 * pages. `first` is the listing's first page, already requested (requestFirstPage); `knownKeys` (without the prefix) say
 * where the rest may be cut.
 */
export async function listPrefix(
  store: Listable,
  first: Promise<ListObjectsV2CommandOutput>,
  knownKeys: Iterable<string>,
  take: (objects: readonly _Object[]) => void,
): Promise<void> {
  const firstPage = await first;
  const objects = firstPage.Contents ?? [];
  take(objects);
  const last = objects.at(-1)?.Key;
  if (firstPage.IsTruncated !== true || last === undefined) return;
  const cuts = cutPoints(store.prefix, knownKeys, last, RANGE_PAGES * objects.length);
  // Ranges (last, cut 1], (cut 1, cut 2], …, (cut n, end).
  const ranges = [last, ...cuts].map((after, i) => ({ after, upTo: cuts[i] }));
  let next = 0;
  const lister = async (): Promise<void> => {
    for (let range = ranges[next++]; range !== undefined; range = ranges[next++]) await listRange(store, range.after, range.upTo, take);
  };
  await Promise.all(Array.from({ length: Math.min(RANGES_AT_ONCE, ranges.length) }, lister));
}

/** The keys after `after`, up to and including `upTo` (to the end without it). */
async function listRange(store: Listable, after: string, upTo: string | undefined, take: (objects: readonly _Object[]) => void): Promise<void> {
  let token: string | undefined;
  do {
    const page = await store.client.send(
      new ListObjectsV2Command({
        Bucket: store.bucket,
        Prefix: store.prefix,
        MaxKeys: store.pageKeys,
        ...(token === undefined ? { StartAfter: after } : { ContinuationToken: token }),
      }),
    );
    const objects = page.Contents ?? [];
    const end = upTo === undefined ? -1 : objects.findIndex((object) => (object.Key ?? '') > upTo);
    if (end !== -1) {
      take(objects.slice(0, end));
      return;
    }
    take(objects);
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
}

/** Full keys after `after`, about `every` known keys apart, ascending; none when too few keys are known. */
export function cutPoints(prefix: string, knownKeys: Iterable<string>, after: string, every: number): string[] {
  const sample: string[] = [];
  let i = 0;
  for (const key of knownKeys) {
    if (i++ % SAMPLE_EVERY !== 0 || /[\ud800-\uffff]/.test(key)) continue;
    const full = prefix + key;
    if (full > after) sample.push(full);
  }
  sample.sort();
  const step = Math.max(1, Math.round(every / SAMPLE_EVERY));
  const cuts: string[] = [];
  for (let at = step; at < sample.length; at += step) {
    const cut = sample[at] as string;
    if (cut !== cuts.at(-1)) cuts.push(cut);
  }
  return cuts;
}
