/** Parsers for option values: each names the rule, commander names the option and the value. */
import { InvalidArgumentError } from 'commander';
import { parseDuration as parseDurationText } from '../common/duration.js';
import { parseSize } from '../common/size.js';

export function parseThreads(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 256) throw new InvalidArgumentError('must be a whole number from 1 to 256.');
  return n;
}

export function parseByteSize(value: string): number {
  const n = parseSize(value);
  if (n === undefined) throw new InvalidArgumentError('must be a size such as 8MiB, 512k or 1G.');
  return n;
}

export function parseSha256(value: string): string {
  if (!/^[0-9a-f]{64}$/i.test(value)) throw new InvalidArgumentError('must be 64 hexadecimal digits.');
  return value.toLowerCase();
}

export function parseMilliseconds(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 600_000) throw new InvalidArgumentError('must be a whole number of milliseconds up to 600000.');
  return n;
}

export function parseCount(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('must be a whole number from 1 up.');
  return Number(value);
}

/** Long intervals for snapshots and versions (`1h`, `30d`, `1h30m`), as the config's duration fields. */
export function parseInterval(value: string): number {
  const ms = parseDurationText(value);
  if (ms === undefined) throw new InvalidArgumentError('must be a duration such as 30s, 15m, 1h, 7d or 1h30m.');
  return ms;
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** `20s`, `500ms`, `2m`, or a bare number of seconds; from 100 ms to an hour. */
export function parseDuration(value: string): number {
  const ms = parseDurationText(value, 's') ?? Number.NaN;
  if (!(ms >= 100 && ms <= 3_600_000)) throw new InvalidArgumentError('must be a duration from 100ms to 60m, such as 20s, 500ms or 2m.');
  return ms;
}
