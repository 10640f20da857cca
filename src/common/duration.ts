/** Human durations ("26h", "30m", "90s", "2d", "500ms") to milliseconds. */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `bareUnit`: the unit of a plain number ("20"); without it a unit is required. */
export function parseDuration(text: string, bareUnit?: 'ms' | 's'): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/i.exec(text.trim());
  const unit = match?.[2]?.toLowerCase() ?? bareUnit;
  if (!match || unit === undefined) return undefined;
  const ms = Math.round(Number(match[1]) * (UNIT_MS[unit] ?? 0));
  return Number.isSafeInteger(ms) && ms > 0 ? ms : undefined;
}
