/** Human durations ("30s", "15m", "26h", "7d", "2w", "250ms", "1h30m") to milliseconds. */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * `bareUnit`: the unit of a plain number ("20" with 's' is 20 s); without it a unit is required, so
 * that a config's "maxAge": "26" is refused rather than read as 26 ms.
 */
export function parseDuration(text: string, bareUnit?: 'ms' | 's'): number | undefined {
  const trimmed = text.trim();
  if (bareUnit !== undefined && /^\d+$/.test(trimmed)) return positiveMs(Number(trimmed) * (UNIT_MS[bareUnit] as number));
  if (!/^(\d+(ms|s|m|h|d|w))+$/.test(trimmed)) return undefined;
  let total = 0;
  for (const [, amount, unit] of trimmed.matchAll(/(\d+)(ms|s|m|h|d|w)/g)) total += Number(amount) * (UNIT_MS[unit as string] as number);
  return positiveMs(total);
}

function positiveMs(ms: number): number | undefined {
  return ms > 0 && Number.isSafeInteger(ms) ? ms : undefined;
}
