/**
 * `--metalink <file|url>` and `--checksums <file|url>`: load the document (common/load-text.ts) and parse
 * it (metalink.ts, checksums.ts). Parsing stays pure; this is the only place that does I/O for them.
 */
import { loadText, type LoadTextOptions } from '../common/load-text.js';
import { findSha256, type ChecksumEntry } from './checksums.js';
import { parseMetalink, type MetalinkFile } from './metalink.js';

/** Room for a few hundred thousand piece hashes; real Metalinks are kilobytes to a few megabytes. */
export const METALINK_MAX_BYTES = 64 * 1024 * 1024;
export const CHECKSUMS_MAX_BYTES = 16 * 1024 * 1024;

export type DescriptionLoadOptions = Omit<LoadTextOptions, 'maxBytes'>;

/** `name`: the file to pick when the Metalink lists several (see parseMetalink). */
export async function loadMetalink(location: string, name: string | undefined, options: DescriptionLoadOptions = {}): Promise<MetalinkFile> {
  const { text, source } = await loadText(location, { ...options, maxBytes: METALINK_MAX_BYTES });
  return parseMetalink(text, { source, ...(name === undefined ? {} : { name }) });
}

export async function loadListedSha256(location: string, name: string, options: DescriptionLoadOptions = {}): Promise<ChecksumEntry> {
  const { text, source } = await loadText(location, { ...options, maxBytes: CHECKSUMS_MAX_BYTES });
  return findSha256(text, name, { source });
}
