/**
 * Object keys from raw (byte) paths and back. S3 keys are UTF-8; Linux names are bytes. The encoding:
 * each path segment that is valid UTF-8 is kept as that text with only `%` written as `%25`; a segment
 * that is not valid UTF-8 has `%` and every byte >= 0x80 written as `%XX` (upper-case hex). Decoding
 * turns every `%XX` back into its byte and every other char into its UTF-8 bytes, so the mapping is
 * lossless and unambiguous. Folders are marker objects whose key ends in `/`.
 */
import type { RawPath } from '../../common/raw-path.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function encodeSegment(segment: RawPath): string {
  const bytes = Buffer.from(segment, 'latin1');
  try {
    return strictUtf8.decode(bytes).replaceAll('%', '%25');
  } catch {
    let out = '';
    for (const byte of bytes) out += byte >= 0x80 || byte === 0x25 ? `%${byte.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(byte);
    return out;
  }
}

/** The key text of a relative raw path (no prefix). */
export function keyOfRel(rel: RawPath): string {
  return rel.split('/').map(encodeSegment).join('/');
}

/** The raw path of a key text (no prefix): the inverse of keyOfRel. */
export function relOfKey(key: string): RawPath {
  const parts: Buffer[] = [];
  let plain = '';
  const flush = (): void => {
    if (plain !== '') parts.push(Buffer.from(plain, 'utf8'));
    plain = '';
  };
  for (let i = 0; i < key.length; i++) {
    const hex = key[i] === '%' ? key.slice(i + 1, i + 3) : '';
    if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
      flush();
      parts.push(Buffer.from([Number.parseInt(hex, 16)]));
      i += 2;
    } else {
      plain += key[i];
    }
  }
  flush();
  return Buffer.concat(parts).toString('latin1');
}

/** `s3://bucket/some/prefix` → bucket and prefix (`some/prefix/`, or '' for the bucket's root). */
export function parseS3Url(url: string): { bucket: string; prefix: string } | undefined {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (match === null) return undefined;
  const bucket = match[1] as string;
  const path = (match[2] as string).split('/').filter((p) => p !== '').join('/');
  return { bucket, prefix: path === '' ? '' : `${path}/` };
}

export function isS3Url(text: string): boolean {
  return text.startsWith('s3://');
}
