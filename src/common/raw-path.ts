/**
 * Paths as byte strings.
 *
 * Linux file names are bytes, not text: any byte but '/' and NUL is allowed, and a name that is not
 * valid UTF-8 would be silently rewritten by Node's string path API. backupd therefore carries every
 * path it reads from disk as a "raw" string: one char per byte (latin1). Such strings join, split and
 * compare like ordinary paths, and convert back to the exact bytes for every fs call. Only output to
 * the user decodes them as UTF-8.
 */
import path from 'node:path';

/** A path whose chars are bytes (latin1). A type alias, not a brand: it documents intent at each API. */
export type RawPath = string;

/** The exact bytes for an fs call. */
export function fsPath(raw: RawPath): Buffer {
  return Buffer.from(raw, 'latin1');
}

/** A path the user typed (UTF-8 text) as a raw path. */
export function rawFromUser(text: string): RawPath {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** A raw path for humans: decoded as UTF-8 (invalid sequences show as U+FFFD). */
export function displayPath(raw: RawPath): string {
  return Buffer.from(raw, 'latin1').toString('utf8');
}

export function joinRaw(root: RawPath, rel: RawPath): RawPath {
  return rel === '' ? root : path.posix.join(root, rel);
}

export function parentRel(rel: RawPath): RawPath {
  const slash = rel.lastIndexOf('/');
  return slash === -1 ? '' : rel.slice(0, slash);
}

export function baseName(rel: RawPath): RawPath {
  return rel.slice(rel.lastIndexOf('/') + 1);
}
