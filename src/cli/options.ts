/** Parsers for option values: each names the rule, commander names the option and the value. */
import { InvalidArgumentError } from 'commander';
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

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** `20s`, `500ms`, `2m`, or a bare number of seconds; from 100 ms to an hour. */
export function parseDuration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  const unit = { ms: 1, s: 1000, m: 60_000 }[(match?.[2] ?? 's') as 'ms' | 's' | 'm'];
  const ms = match === null ? Number.NaN : Number(match[1]) * unit;
  if (!(ms >= 100 && ms <= 3_600_000)) throw new InvalidArgumentError('must be a duration from 100ms to 60m, such as 20s, 500ms or 2m.');
  return Math.round(ms);
}
