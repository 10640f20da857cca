/**
 * What to download, from the command line: `<name>`, `--from`, `--sha256`, and what a `--metalink` and a
 * `--checksums` file say (parsed by assemble/metalink.ts and assemble/checksums.ts). The result is the
 * one DownloadSpec the engine sees. Conflicting hashes are refused rather than guessed between.
 */
import { loadListedSha256, loadMetalink, type DescriptionLoadOptions } from '../assemble/descriptions.js';
import type { DownloadSpec } from '../assemble/download-spec.js';
import type { MetalinkFile } from '../assemble/metalink.js';
import { UsageError } from '../common/errors.js';
import type { HttpClient } from '../remote/http-client.js';
import { parseHeaders } from './assemble-sources.js';

export interface SpecOptions {
  readonly from: readonly string[];
  readonly sha256?: string;
  readonly metalink?: string;
  readonly checksums?: string;
  readonly header: readonly string[];
}

export interface DescribedDownload {
  readonly spec: DownloadSpec;
  /** What the Metalink left out (other URL types, duplicates), for the user. */
  readonly notes: readonly string[];
}

export async function describeDownload(name: string | undefined, options: SpecOptions, client: HttpClient | undefined): Promise<DescribedDownload> {
  const load: DescriptionLoadOptions = { headers: parseHeaders(options.header), ...(client === undefined ? {} : { fetch: client.fetch }) };
  const metalink = options.metalink === undefined ? undefined : await loadMetalink(options.metalink, name, load);
  const fileName = name ?? metalink?.name;
  if (fileName === undefined) throw new UsageError('give the file <name>, or --metalink');
  if (options.from.length === 0 && (metalink?.mirrors.length ?? 0) === 0) throw new UsageError('no source: give --from, or a --metalink that lists mirrors');
  const listed = options.checksums === undefined ? undefined : (await loadListedSha256(options.checksums, fileName, load)).sha256;
  const sha256 = agreedSha256([
    ['--sha256', options.sha256],
    ['--metalink', metalink?.sha256],
    ['--checksums', listed],
  ]);
  const spec: DownloadSpec = {
    name: fileName,
    ...(metalink?.size === undefined ? {} : { size: metalink.size }),
    ...(sha256 === undefined ? {} : { sha256 }),
    ...piecesOf(metalink),
    // The Metalink's mirrors by priority, then --from: the first given is preferred on ties.
    sources: [...(metalink?.mirrors.map((m) => m.url) ?? []), ...options.from],
  };
  return { spec, notes: metalink?.notes ?? [] };
}

function piecesOf(metalink: MetalinkFile | undefined): Pick<DownloadSpec, 'pieces'> {
  const pieces = metalink?.pieces;
  if (pieces === undefined) return {};
  return { pieces: { algorithm: pieces.type === 'sha-1' ? 'sha1' : 'sha256', length: pieces.length, hashes: pieces.hashes } };
}

/** The one sha256 every place that names one agrees on; two that differ are an error. */
function agreedSha256(named: readonly (readonly [string, string | undefined])[]): string | undefined {
  const given = named.filter((entry): entry is readonly [string, string] => entry[1] !== undefined);
  const [first] = given;
  const other = given.find(([, hex]) => hex !== first?.[1]);
  if (first !== undefined && other !== undefined) throw new UsageError(`${first[0]} and ${other[0]} name different sha256 values for the file`);
  return first?.[1];
}
