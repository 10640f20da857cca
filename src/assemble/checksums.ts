/**
 * `<name>`'s SHA-256 from a checksum list (`SHA256SUMS`, `CHECKSUM`), in the formats coreutils reads:
 *   GNU   `<hex>  <name>`, `<hex> *<name>` (binary mode), `<hex> <name>` (BSD `-r`);
 *   BSD   `SHA256 (<name>) = <hex>` (`--tag`, OpenBSD, Fedora);
 * with coreutils' escaping (a leading `\`, then `\\`, `\n` and `\r` in the name). `#` comments are
 * skipped and so is the armor of a clear-signed list (the signature is not checked here). Lines of any
 * other shape are skipped too, as `sha256sum -c` does; only the entry asked for must be well-formed.
 */
import { UsageError } from '../common/errors.js';
import { entriesNamed } from './file-name.js';

export type ChecksumErrorCode = 'ENOTCHECKSUMS' | 'ENOCHECKSUM' | 'EBADCHECKSUM' | 'ECHECKSUMCONFLICT' | 'ECHECKSUMAMBIGUOUS';

export class ChecksumListError extends UsageError {
  override readonly code: ChecksumErrorCode;
  constructor(source: string, problem: string, code: ChecksumErrorCode) {
    super(`${source}: ${problem}`, code);
    this.name = 'ChecksumListError';
    this.code = code;
  }
}

export interface ChecksumEntry {
  /** The name as the list writes it (unescaped). */
  readonly name: string;
  /** Lowercase hex. */
  readonly sha256: string;
  /** 1-based, for messages. */
  readonly line: number;
}

/** One line that parsed: `algorithm` from the BSD tag, or guessed from the digest's length (GNU). */
interface ListedHash {
  readonly name: string;
  readonly algorithm: string | undefined;
  readonly digest: string;
  readonly line: number;
}

const SHA256_HEX = /^[0-9a-f]{64}$/i;
const GNU_ALGORITHM_BY_LENGTH: Readonly<Record<number, string>> = { 32: 'MD5', 40: 'SHA1', 56: 'SHA224', 64: 'SHA256', 96: 'SHA384', 128: 'SHA512' };

export function findSha256(text: string, name: string, options: { readonly source: string }): ChecksumEntry {
  const fail = (problem: string, code: ChecksumErrorCode): never => {
    throw new ChecksumListError(options.source, problem, code);
  };
  const listed = parseChecksumList(text);
  const wellFormed = listed.filter(isWellFormed).length;
  if (wellFormed === 0) fail('has no checksum lines (`<hex>  <name>` or `SHA256 (<name>) = <hex>`)', 'ENOTCHECKSUMS');

  const named = entriesNamed(listed, name, (entry) => entry.name);
  const shown = JSON.stringify(name);
  if (named.length === 0) fail(`does not list ${shown} (${wellFormed} entries)`, 'ENOCHECKSUM');
  const sha256 = named.filter((entry) => entry.algorithm === 'SHA256');
  const unreadable = named.find((entry) => entry.algorithm === undefined);
  if (sha256.length === 0 && unreadable !== undefined) {
    fail(`line ${unreadable.line}: the hash of ${shown} is not a hex digest (${JSON.stringify(unreadable.digest.slice(0, 80))})`, 'EBADCHECKSUM');
  }
  if (sha256.length === 0) {
    const others = [...new Set(named.map((entry) => entry.algorithm))].join(', ');
    fail(`lists ${shown} only with a ${others} hash (line ${named[0]?.line}); a SHA-256 is needed`, 'ENOCHECKSUM');
  }
  for (const entry of sha256) {
    if (!SHA256_HEX.test(entry.digest)) fail(`line ${entry.line}: the SHA-256 of ${shown} is not 64 hex digits (${JSON.stringify(entry.digest.slice(0, 80))})`, 'EBADCHECKSUM');
  }
  const first = sha256[0] as ListedHash;
  const differing = sha256.filter((entry) => entry.digest.toLowerCase() !== first.digest.toLowerCase());
  if (differing.length > 0) {
    const where = sha256.map((entry) => `${JSON.stringify(entry.name)} on line ${entry.line}`).join(', ');
    if (sha256.some((entry) => entry.name !== first.name)) fail(`${shown} could be any of ${where}: give the name as listed`, 'ECHECKSUMAMBIGUOUS');
    fail(`lists ${shown} with different hashes (${where})`, 'ECHECKSUMCONFLICT');
  }
  return { name: first.name, sha256: first.digest.toLowerCase(), line: first.line };
}

function isWellFormed(entry: ListedHash): boolean {
  return entry.algorithm !== undefined && /^[0-9a-f]+$/i.test(entry.digest);
}

function parseChecksumList(text: string): ListedHash[] {
  const listed: ListedHash[] = [];
  signedLines(text.split('\n')).forEach(({ text: line, number }) => {
    const entry = parseLine(line.endsWith('\r') ? line.slice(0, -1) : line, number);
    if (entry !== undefined) listed.push(entry);
  });
  return listed;
}

/** The lines a clear-signed list signs (armor headers and signature dropped, dash-escaping undone), or all. */
function signedLines(lines: readonly string[]): { text: string; number: number }[] {
  const kept: { text: string; number: number }[] = [];
  let state: 'plain' | 'armor-header' | 'signed' | 'signature' = 'plain';
  lines.forEach((text, i) => {
    const bare = text.trimEnd();
    if (bare === '-----BEGIN PGP SIGNED MESSAGE-----') state = 'armor-header';
    else if (state === 'armor-header') state = bare === '' ? 'signed' : 'armor-header';
    else if (bare === '-----BEGIN PGP SIGNATURE-----') state = 'signature';
    else if (state === 'signature') state = bare === '-----END PGP SIGNATURE-----' ? 'plain' : 'signature';
    else kept.push({ text: state === 'signed' && text.startsWith('- ') ? text.slice(2) : text, number: i + 1 });
  });
  return kept;
}

const BSD_LINE = /^([A-Za-z0-9-]+) ?\((.*)\) ?= ?(\S+)$/;

function parseLine(raw: string, line: number): ListedHash | undefined {
  const trimmed = raw.trimStart();
  if (trimmed === '' || trimmed.startsWith('#')) return undefined;
  const escaped = trimmed.startsWith('\\');
  const body = escaped ? trimmed.slice(1) : trimmed;
  const bsd = BSD_LINE.exec(body);
  if (bsd !== null) return named(escaped, bsd[2] as string, bsdAlgorithm(bsd[1] as string), bsd[3] as string, line);
  // GNU: digest, one space, then ' ' (text mode) or '*' (binary mode) or directly the name (BSD -r).
  const space = body.indexOf(' ');
  if (space <= 0) return undefined;
  const digest = body.slice(0, space);
  const flag = body[space + 1];
  const name = body.slice(space + (flag === ' ' || flag === '*' ? 2 : 1));
  return named(escaped, name, /^[0-9a-f]+$/i.test(digest) ? GNU_ALGORITHM_BY_LENGTH[digest.length] : undefined, digest, line);
}

/** `SHA256`, `SHA-256` and `SHA2-256` all name SHA-256; other tags are kept as written (uppercase). */
function bsdAlgorithm(tag: string): string {
  const upper = tag.toUpperCase();
  return upper === 'SHA-256' || upper === 'SHA2-256' ? 'SHA256' : upper;
}

function named(escaped: boolean, listedName: string, algorithm: string | undefined, digest: string, line: number): ListedHash | undefined {
  const name = escaped ? unescapeName(listedName) : listedName;
  // A 64-character non-hex digest is still "the SHA-256 of <name>", so its line is reported, not skipped.
  const guessed = algorithm ?? (digest.length === 64 ? 'SHA256' : undefined);
  return name === undefined || name === '' ? undefined : { name, algorithm: guessed, digest, line };
}

/** coreutils' escaping of names with `\` or a newline; undefined for an escape it never writes. */
function unescapeName(name: string): string | undefined {
  let out = '';
  for (let i = 0; i < name.length; i++) {
    const c = name[i];
    if (c !== '\\') {
      out += c;
      continue;
    }
    const next = name[++i];
    if (next === '\\') out += '\\';
    else if (next === 'n') out += '\n';
    else if (next === 'r') out += '\r';
    else return undefined;
  }
  return out;
}
