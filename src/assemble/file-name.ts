/**
 * Names that come from a download description (a Metalink's `name`, a checksum list's entries) rather
 * than from the user: checked before they are used as a path under the output folder, and matched
 * against the name the user asked for.
 */

/** Why a name may not be used as a relative output path, or undefined when it may. */
export function unsafeNameReason(name: string): string | undefined {
  if (name === '') return 'is empty';
  if (name.includes('\0')) return 'contains a NUL byte';
  // A backslash is a separator on Windows and a disguise for one everywhere else.
  if (name.includes('\\')) return 'contains a backslash';
  if ([...name].some(isControl)) return 'contains a control character';
  if (name.startsWith('/')) return 'is an absolute path';
  const segments = name.split('/');
  if (segments.includes('..')) return 'escapes the output folder (a ".." component)';
  if (segments.some((segment) => segment === '' || segment === '.')) return 'has an empty or "." component';
  return undefined;
}

function isControl(char: string): boolean {
  const code = char.charCodeAt(0);
  return code < 0x20 || code === 0x7f;
}

/**
 * The entries listed as `name`: the ones with exactly that name, or else (when the list gives folders,
 * `images/x.iso`, and the user asked for `x.iso`) the ones whose last component is `name`.
 */
export function entriesNamed<T>(entries: readonly T[], name: string, nameOf: (entry: T) => string): T[] {
  const exact = entries.filter((entry) => stripDotSlash(nameOf(entry)) === stripDotSlash(name));
  if (exact.length > 0 || name.includes('/')) return exact;
  return entries.filter((entry) => lastComponent(nameOf(entry)) === name);
}

function stripDotSlash(name: string): string {
  return name.startsWith('./') ? name.slice(2) : name;
}

function lastComponent(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1);
}
