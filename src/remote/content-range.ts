/** Header parsing for ranged GETs (RFC 9110 §14.4, §10.2.3, §8.8.3). Pure. */

export interface ContentRange {
  readonly first: number;
  readonly last: number;
  /** undefined for `*` (the server does not know). */
  readonly size: number | undefined;
}

/** `bytes 0-99/1000` → {0, 99, 1000}; anything else (other units, `bytes *\/1000`, junk) → undefined. */
export function parseContentRange(value: string | undefined): ContentRange | undefined {
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/i.exec(value?.trim() ?? '');
  if (match === null) return undefined;
  const [, first, last, size] = match as unknown as [string, string, string, string];
  const range = { first: Number(first), last: Number(last), size: size === '*' ? undefined : Number(size) };
  return range.first <= range.last && (range.size === undefined || range.last < range.size) ? range : undefined;
}

/** The complete length from an unsatisfied range's `bytes *\/1000`. */
export function unsatisfiedSize(value: string | undefined): number | undefined {
  const match = /^bytes \*\/(\d+)$/i.exec(value?.trim() ?? '');
  return match === null ? undefined : Number(match[1]);
}

/** Retry-After as milliseconds from `now`: delay-seconds or an HTTP date; undefined when absent or junk. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** A strong ETag (`"abc"`); weak ones (`W/"abc"`) do not promise identical bytes, so they validate nothing. */
export function strongEtag(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed !== undefined && trimmed.startsWith('"') ? trimmed : undefined;
}
