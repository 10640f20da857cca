/**
 * Metalink download descriptions: Metalink 4 (RFC 5854, `.meta4`) and Metalink 3 (metalinker.org 3.0,
 * `.metalink`) from text to one validated `MetalinkFile`: the name, size, file hash, piece hashes and the
 * http(s) mirrors, most preferred first. Everything the engine cannot use (ftp mirrors, torrents, md5
 * pieces) is left out with a note; anything malformed or hostile is a `MetalinkError` naming the field.
 *
 * XML is read by fast-xml-parser. A DOCTYPE may not declare entities (refused, not just left unexpanded:
 * no billion laughs, no external entities), and character references are decoded as XML requires.
 */
import { ENTITY_ACTION, EntityDecoder } from '@nodable/entities';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { UsageError } from '../common/errors.js';
import { redactUrl } from '../common/redact-url.js';
import { entriesNamed, unsafeNameReason } from './file-name.js';

/** Hash names as RFC 5854 writes them (IANA textual names); Metalink 3's `sha1`, `sha256` are mapped to these. */
export type HashType = 'md5' | 'sha-1' | 'sha-224' | 'sha-256' | 'sha-384' | 'sha-512';
/** The piece hashes the engine checks blocks with. */
export type PieceHashType = 'sha-1' | 'sha-256';

export interface FileHash {
  /** A `HashType`, or another name as the file gives it (lowercase), not checked. */
  readonly type: string;
  /** Lowercase hex. */
  readonly hex: string;
}

export interface PieceHashes {
  readonly type: PieceHashType;
  /** Bytes per piece; the last piece may be shorter. */
  readonly length: number;
  /** Lowercase hex, piece 0 first. When the size is known there are exactly ceil(size / length). */
  readonly hashes: readonly string[];
}

export interface MetalinkMirror {
  /** An http: or https: URL, as written. */
  readonly url: string;
  /** RFC 5854 order: 1 is the most preferred, 999999 (or no priority) the least. */
  readonly priority: number;
  /** ISO 3166-1 country code, when the file gives one. */
  readonly location?: string;
}

export interface MetalinkFile {
  readonly version: 3 | 4;
  /** Relative path under the output folder, checked by `unsafeNameReason`; may contain folders (`a/b.iso`). */
  readonly name: string;
  readonly size: number | undefined;
  /** Lowercase hex; the hash the whole result is verified against. */
  readonly sha256: string | undefined;
  /** The file's other hashes: listed for the record, not verified. */
  readonly otherHashes: readonly FileHash[];
  /** sha-256 pieces when the file has them, else sha-1 pieces, else none. */
  readonly pieces: PieceHashes | undefined;
  /** http(s) only, sorted by priority (stable: equal priorities keep the file's order), no duplicates. */
  readonly mirrors: readonly MetalinkMirror[];
  /** What was left out and why, one line each, for the user (URLs without their credentials). */
  readonly notes: readonly string[];
}

export type MetalinkErrorCode = 'ENOTMETALINK' | 'EMETALINK' | 'EUNSAFENAME';

/** A Metalink that cannot be used. `field` names the element or attribute, e.g. `<pieces length>`. */
export class MetalinkError extends UsageError {
  override readonly code: MetalinkErrorCode;
  readonly field: string;
  constructor(source: string, field: string, problem: string, code: MetalinkErrorCode = 'EMETALINK') {
    super(`${source}: ${field === '' ? '' : `${field} `}${problem}`, code);
    this.name = 'MetalinkError';
    this.code = code;
    this.field = field;
  }
}

export interface MetalinkOptions {
  /** Where the text came from (a path or URL), for messages. */
  readonly source: string;
  /** The file to pick when the Metalink describes several; matched exactly, else by its last component. */
  readonly name?: string;
}

export function parseMetalink(text: string, options: MetalinkOptions): MetalinkFile {
  const { root, version } = readRoot(text, options.source);
  const files = version === 4 ? children(root, 'file').map(fileV4) : children(root, 'files').flatMap((f) => children(f, 'file')).map(fileV3);
  return validate(chooseFile(files, options), version, options.source);
}

// ---- XML -------------------------------------------------------------------------------------------

/** One element as fast-xml-parser gives it: child elements as arrays, attributes as `@name`, text as `#text`. */
type XmlElement = Readonly<Record<string, unknown>>;

const TEXT = '#text';

function newParser(): XMLParser {
  return new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@',
    textNodeName: TEXT,
    // Metalink elements are matched by local name: a prefixed document (`<ml:file>`) reads as a plain one.
    removeNSPrefix: true,
    parseTagValue: false,
    parseAttributeValue: false,
    trimValues: true,
    alwaysCreateTextNode: true,
    isArray: (tagName, _path, _leaf, isAttribute) => !isAttribute && tagName !== TEXT,
    processEntities: true,
    entityDecoder: new EntityDecoder({
      onInputEntity: () => ENTITY_ACTION.THROW,
      numericAllowed: true,
      ncr: { nullNCR: 'throw' },
    }),
  });
}

function readRoot(text: string, source: string): { root: XmlElement; version: 3 | 4 } {
  const valid = XMLValidator.validate(text);
  if (valid !== true) throw new MetalinkError(source, '', `is not well-formed XML (line ${valid.err.line}: ${valid.err.msg})`, 'ENOTMETALINK');
  let document: XmlElement;
  try {
    document = newParser().parse(text) as XmlElement;
  } catch (err) {
    throw new MetalinkError(source, '', `cannot be read as a Metalink: ${describeParseError(err)}`);
  }
  const roots = Object.keys(document).filter((key) => key !== '?xml' && key !== TEXT);
  const [top] = roots;
  if (roots.length !== 1 || top !== 'metalink' || children(document, 'metalink').length !== 1) {
    throw new MetalinkError(source, '', `is not a Metalink file (its root element is ${roots.map((r) => `<${r}>`).join(', ') || 'missing'})`, 'ENOTMETALINK');
  }
  const root = children(document, 'metalink')[0] as XmlElement;
  // Metalink 3 wraps its files in <files>; Metalink 4 lists <file> directly under the root.
  const version = has(root, 'files') || (!has(root, 'file') && attribute(root, 'version')?.startsWith('3')) ? 3 : 4;
  return { root, version };
}

function describeParseError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/entit/i.test(message) && /rejected|external/i.test(message)) return 'it declares XML entities, which a Metalink has no use for';
  return message.replace(/^\[\w+\]\s*/, '');
}

function has(element: XmlElement, key: string): boolean {
  return Object.hasOwn(element, key);
}

function children(element: XmlElement, tag: string): XmlElement[] {
  const value = has(element, tag) ? element[tag] : undefined;
  if (!Array.isArray(value)) return [];
  return value.map((child: unknown) => (typeof child === 'object' && child !== null ? (child as XmlElement) : { [TEXT]: String(child) }));
}

function attribute(element: XmlElement, name: string): string | undefined {
  const value = has(element, `@${name}`) ? element[`@${name}`] : undefined;
  return typeof value === 'string' ? value.trim() : undefined;
}

function textOf(element: XmlElement): string {
  const value = has(element, TEXT) ? element[TEXT] : undefined;
  return typeof value === 'string' ? value : '';
}

function firstText(element: XmlElement, tag: string): string | undefined {
  const [first] = children(element, tag);
  return first === undefined ? undefined : textOf(first);
}

// ---- the two versions, read into one raw shape -------------------------------------------------------

interface RawFile {
  readonly name: string | undefined;
  readonly size: string | undefined;
  readonly hashes: readonly { readonly type: string | undefined; readonly value: string }[];
  readonly pieces: readonly RawPieces[];
  readonly urls: readonly RawUrl[];
  readonly torrents: number;
}

interface RawPieces {
  readonly type: string | undefined;
  readonly length: string | undefined;
  readonly hashes: readonly { readonly value: string; readonly index: string | undefined }[];
}

interface RawUrl {
  readonly url: string;
  /** Already in RFC 5854 order (1 best); undefined when the file gives none. */
  readonly priority: number | undefined;
  readonly priorityText: string | undefined;
  readonly location: string | undefined;
  /** Metalink 3's `type` ("http", "ftp", "bittorrent", ...). */
  readonly kind: string | undefined;
}

function fileV4(file: XmlElement): RawFile {
  return {
    name: attribute(file, 'name'),
    size: firstText(file, 'size'),
    hashes: children(file, 'hash').map((h) => ({ type: attribute(h, 'type'), value: textOf(h) })),
    pieces: children(file, 'pieces').map(rawPieces),
    urls: children(file, 'url').map((u) => {
      const priorityText = attribute(u, 'priority');
      return { url: textOf(u), priorityText, priority: priorityText === undefined ? undefined : Number(priorityText), location: attribute(u, 'location'), kind: undefined };
    }),
    torrents: children(file, 'metaurl').length,
  };
}

function fileV3(file: XmlElement): RawFile {
  const verification = children(file, 'verification');
  const urls = children(file, 'resources').flatMap((r) => children(r, 'url'));
  return {
    name: attribute(file, 'name'),
    size: firstText(file, 'size'),
    hashes: verification.flatMap((v) => children(v, 'hash')).map((h) => ({ type: attribute(h, 'type'), value: textOf(h) })),
    pieces: verification.flatMap((v) => children(v, 'pieces')).map(rawPieces),
    urls: urls.map((u) => {
      const priorityText = attribute(u, 'preference');
      return { url: textOf(u), priorityText, priority: priorityFromPreference(priorityText), location: attribute(u, 'location'), kind: attribute(u, 'type')?.toLowerCase() };
    }),
    torrents: 0,
  };
}

/** Metalink 3's preference is 0-100, higher preferred: 100 becomes priority 1. NaN marks a bad value. */
function priorityFromPreference(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const preference = Number(text);
  return /^\d+$/.test(text) && preference <= 100 ? 101 - preference : Number.NaN;
}

function rawPieces(pieces: XmlElement): RawPieces {
  return {
    type: attribute(pieces, 'type'),
    length: attribute(pieces, 'length'),
    hashes: children(pieces, 'hash').map((h) => ({ value: textOf(h), index: attribute(h, 'piece') })),
  };
}

// ---- choosing and validating -------------------------------------------------------------------------

function chooseFile(files: readonly RawFile[], options: MetalinkOptions): RawFile {
  const list = files.map((f) => JSON.stringify(f.name ?? '')).join(', ');
  if (files.length === 0) throw new MetalinkError(options.source, '<file>', 'is missing: the Metalink describes no file');
  if (options.name === undefined) {
    if (files.length === 1) return files[0] as RawFile;
    throw new MetalinkError(options.source, '<file>', `appears ${files.length} times (${list}): name the file to assemble`);
  }
  const named = entriesNamed(files, options.name, (f) => f.name ?? '');
  if (named.length === 1) return named[0] as RawFile;
  const problem = named.length === 0 ? `named ${JSON.stringify(options.name)} is not listed (it lists ${list})` : `named ${JSON.stringify(options.name)} is listed ${named.length} times`;
  throw new MetalinkError(options.source, '<file>', problem);
}

const HEX_LENGTH: Readonly<Record<HashType, number>> = { md5: 32, 'sha-1': 40, 'sha-224': 56, 'sha-256': 64, 'sha-384': 96, 'sha-512': 128 };
const MAX_PRIORITY = 999_999;

function validate(file: RawFile, version: 3 | 4, source: string): MetalinkFile {
  const fail = (field: string, problem: string, code?: MetalinkErrorCode): never => {
    throw new MetalinkError(source, field, problem, code);
  };
  if (file.name === undefined) fail('<file name>', 'is missing');
  const name = file.name as string;
  const unsafe = unsafeNameReason(name);
  if (unsafe !== undefined) fail('<file name>', `${JSON.stringify(name)} ${unsafe}`, 'EUNSAFENAME');

  const size = file.size === undefined ? undefined : wholeNumber(file.size, '<size>', fail);
  const notes: string[] = [];
  const hashes = fileHashes(file, fail);
  const pieces = choosePieces(file.pieces, size, notes, fail);
  const mirrors = chooseMirrors(file, version, notes, fail);
  if (file.torrents > 0) notes.push(`${file.torrents} <metaurl> (torrent or other metadata) left out: only http and https mirrors are fetched`);
  const sha256 = hashes.find((h) => h.type === 'sha-256')?.hex;
  return { version, name, size, sha256, otherHashes: hashes.filter((h) => h.type !== 'sha-256'), pieces, mirrors, notes };
}

type Fail = (field: string, problem: string, code?: MetalinkErrorCode) => never;

function wholeNumber(text: string, field: string, fail: Fail): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value)) fail(field, `${JSON.stringify(text)} is not a whole number of bytes`);
  return value;
}

function hashType(type: string): string {
  const lower = type.toLowerCase();
  return /^sha\d+$/.test(lower) ? `sha-${lower.slice(3)}` : lower;
}

function checkedHex(type: string, value: string, field: string, fail: Fail): string {
  const expected = HEX_LENGTH[type as HashType];
  const hex = value.toLowerCase();
  if (expected !== undefined && (hex.length !== expected || !/^[0-9a-f]+$/.test(hex))) {
    fail(field, `${JSON.stringify(value.slice(0, 140))} is not a ${type} hash (${expected} hex digits)`);
  }
  return hex;
}

function fileHashes(file: RawFile, fail: Fail): FileHash[] {
  const byType = new Map<string, string>();
  for (const { type: rawType, value } of file.hashes) {
    if (rawType === undefined || rawType === '') fail('<hash type>', 'is missing');
    const type = hashType(rawType as string);
    const hex = checkedHex(type, value, `<hash type="${type}">`, fail);
    const earlier = byType.get(type);
    if (earlier !== undefined && earlier !== hex) fail(`<hash type="${type}">`, 'is given twice with different values');
    byType.set(type, hex);
  }
  return [...byType].map(([type, hex]) => ({ type, hex }));
}

function choosePieces(all: readonly RawPieces[], size: number | undefined, notes: string[], fail: Fail): PieceHashes | undefined {
  const usable = (type: PieceHashType) => all.find((p) => p.type !== undefined && hashType(p.type) === type);
  const chosen = usable('sha-256') ?? usable('sha-1');
  for (const pieces of all) {
    if (pieces !== chosen) notes.push(`<pieces type="${pieces.type ?? ''}"> left out: ${chosen === undefined ? 'blocks are checked with sha-256 or sha-1 pieces only' : `the ${hashType(chosen.type as string)} pieces are used`}`);
  }
  if (chosen === undefined) return undefined;
  const type = hashType(chosen.type as string) as PieceHashType;
  if (chosen.length === undefined) fail('<pieces length>', 'is missing');
  const length = wholeNumber(chosen.length as string, '<pieces length>', fail);
  if (length === 0) fail('<pieces length>', 'is 0');
  const hashes = orderedPieceHashes(chosen, fail).map((value, i) => checkedHex(type, value, `<pieces> <hash> #${i}`, fail));
  if (size !== undefined && hashes.length !== Math.ceil(size / length)) {
    fail('<pieces>', `has ${hashes.length} hashes; ${size} bytes in pieces of ${length} need ${Math.ceil(size / length)}`);
  }
  return { type, length, hashes };
}

/** Metalink 3 numbers its piece hashes (`piece="0"`); they must be 0, 1, 2, ... in some order. */
function orderedPieceHashes(pieces: RawPieces, fail: Fail): string[] {
  if (pieces.hashes.every((h) => h.index === undefined)) return pieces.hashes.map((h) => h.value);
  const ordered = new Array<string | undefined>(pieces.hashes.length);
  for (const { value, index } of pieces.hashes) {
    const i = Number(index);
    if (index === undefined || !/^\d+$/.test(index) || i >= ordered.length || ordered[i] !== undefined) {
      fail('<pieces> <hash piece>', `${JSON.stringify(index ?? '')} is missing, repeated or out of range (${ordered.length} pieces)`);
    }
    ordered[i] = value;
  }
  return ordered as string[];
}

function chooseMirrors(file: RawFile, version: 3 | 4, notes: string[], fail: Fail): MetalinkMirror[] {
  const mirrors: MetalinkMirror[] = [];
  const seen = new Set<string>();
  const field = version === 4 ? '<url priority>' : '<url preference>';
  for (const raw of file.urls) {
    const priority = raw.priority ?? MAX_PRIORITY;
    if (!Number.isInteger(priority) || priority < 1 || priority > MAX_PRIORITY) {
      fail(field, `${JSON.stringify(raw.priorityText)} is not ${version === 4 ? 'a whole number from 1 to 999999' : 'a whole number from 0 to 100'}`);
    }
    let url: URL;
    try {
      url = new URL(raw.url);
    } catch {
      fail('<url>', `${JSON.stringify(redactUrl(raw.url))} is not a URL`);
      continue;
    }
    if (raw.kind !== undefined && raw.kind !== 'http' && raw.kind !== 'https') {
      notes.push(`${redactUrl(raw.url)} left out: its type is ${raw.kind}; only http and https mirrors are fetched`);
    } else if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      notes.push(`${redactUrl(raw.url)} left out: only http and https mirrors are fetched`);
    } else if (!seen.has(url.href)) {
      seen.add(url.href);
      mirrors.push({ url: raw.url, priority, ...(raw.location === undefined || raw.location === '' ? {} : { location: raw.location }) });
    }
  }
  return mirrors.sort((a, b) => a.priority - b.priority);
}
