/**
 * Names that stand for a time and sort by it: `2026-12-02T014500Z` (UTC, whole seconds), then `-1`,
 * `-2` … for later ones within the same second. Snapshots are named so, and so are the folders a
 * restore keeps replaced files in.
 */
const NAME_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2})(\d{2})(\d{2})Z(?:-(\d+))?$/;

/** `2026-12-02T014500Z` for a time. */
export function timeName(time: Date): string {
  return `${time.toISOString().slice(0, 19).replace(/:/g, '')}Z`;
}

/** A name for `time` not in `taken`: the time's name, or it with -1, -2 … */
export function freshTimeName(time: Date, taken: ReadonlySet<string>): string {
  const base = timeName(time);
  if (!taken.has(base)) return base;
  for (let n = 1; ; n += 1) {
    const name = `${base}-${n}`;
    if (!taken.has(name)) return name;
  }
}

/** The time a name stands for, or undefined when `name` is not such a name. */
export function parseTimeName(name: string): Date | undefined {
  const m = NAME_RE.exec(name);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m;
  const time = new Date(`${y}-${mo}-${d}T${h}:${mi}:${s}Z`);
  return Number.isNaN(time.getTime()) ? undefined : time;
}

/** Orders names within one second: base < base-1 < base-2 … */
export function timeNameSequence(name: string): number {
  const m = NAME_RE.exec(name);
  return m?.[7] === undefined ? 0 : Number(m[7]);
}
