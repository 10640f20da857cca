/**
 * Paths as byte strings.
 *
 * Linux file names are bytes, not text: any byte but '/' and NUL is allowed, and a name that is not
 * valid UTF-8 would be silently rewritten by Node's string path API. backupd therefore carries every
 * path it reads from disk as a "raw" string: one char per byte (latin1). Such strings join, split and
 * compare like ordinary paths, and convert back to the exact bytes for every fs call. Only output to
 * the user decodes them as UTF-8.
 */

/** A path whose chars are bytes (latin1). A type alias, not a brand: it documents intent at each API. */
export type RawPath = string;

const NON_ASCII = /[^ -~]/; // printable ASCII only: anything else takes the (always exact) Buffer path

/**
 * The exact bytes for an fs call. An ASCII path is the same in latin1 and UTF-8, so it is passed as is:
 * most paths are ASCII, and a Buffer per fs call is measurable garbage when walking 100,000 entries.
 */
export function fsPath(raw: RawPath): string | Buffer {
  return NON_ASCII.test(raw) ? Buffer.from(raw, 'latin1') : raw;
}

/** A path the user typed (UTF-8 text) as a raw path. */
export function rawFromUser(text: string): RawPath {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** A raw path for humans: decoded as UTF-8 (invalid sequences show as U+FFFD). */
export function displayPath(raw: RawPath): string {
  return Buffer.from(raw, 'latin1').toString('utf8');
}

/** `rel` is a clean relative path (no '.', '..' or doubled slashes), so plain concatenation is enough. */
export function joinRaw(root: RawPath, rel: RawPath): RawPath {
  if (rel === '') return root;
  // An empty root is "here", not "/": tempRelFor('name') must stay beside the name.
  if (root === '') return rel;
  return root.endsWith('/') ? root + rel : `${root}/${rel}`;
}

export function parentRel(rel: RawPath): RawPath {
  const slash = rel.lastIndexOf('/');
  return slash === -1 ? '' : rel.slice(0, slash);
}

/** Whether `rel` is `top` or below it (every rel is below ''). */
export function isAtOrBelow(rel: RawPath, top: RawPath): boolean {
  return top === '' || rel === top || rel.startsWith(`${top}/`);
}

export function baseName(rel: RawPath): RawPath {
  return rel.slice(rel.lastIndexOf('/') + 1);
}
