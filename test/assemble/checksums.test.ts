import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ChecksumListError, findSha256, type ChecksumErrorCode } from '../../src/assemble/checksums.js';
import { UsageError } from '../../src/common/errors.js';
import { thrown } from '../helpers/thrown.js';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const A = sha('a');
const B = sha('b');
const C = sha('c');
const SHA512 = createHash('sha512').update('a').digest('hex');

/** Debian's cdimage SHA256SUMS: GNU text mode, two spaces. */
const DEBIAN = `${A}  debian-12.5.0-amd64-DVD-1.iso
${B}  debian-12.5.0-amd64-netinst.iso
${C}  debian-edu-12.5.0-amd64-netinst.iso
`;

/** Ubuntu's releases SHA256SUMS: binary mode marker. */
const UBUNTU = `${A} *ubuntu-24.04-desktop-amd64.iso
${B} *ubuntu-24.04-live-server-amd64.iso
`;

/** Fedora's CHECKSUM: clear-signed, BSD tags, size comments. */
const FEDORA = `-----BEGIN PGP SIGNED MESSAGE-----
Hash: SHA256

# Fedora-Workstation-Live-x86_64-40-1.14.iso: 2295853056 bytes
SHA256 (Fedora-Workstation-Live-x86_64-40-1.14.iso) = ${A}
# Fedora-Workstation-Live-osb-40-1.14.x86_64.iso: 2295853056 bytes
SHA256 (Fedora-Workstation-Live-osb-40-1.14.x86_64.iso) = ${B}
-----BEGIN PGP SIGNATURE-----

iQIzBAEBCAAdFiEEb8ixYy8FCWkvTLM3ZSk3khvSy+0FAmYbIzAACgkQZSk3khvS
SHA256 (Fedora-Workstation-Live-x86_64-40-1.14.iso) = ${C}
=AbCd
-----END PGP SIGNATURE-----
`;

/** FreeBSD's CHECKSUM.SHA256 and CHECKSUM.SHA512 side by side, as `sha256 -r`-less BSD tags. */
const FREEBSD = `SHA512 (FreeBSD-14.0-RELEASE-amd64-disc1.iso) = ${SHA512}
SHA256 (FreeBSD-14.0-RELEASE-amd64-disc1.iso) = ${B.toUpperCase()}
SHA256 (FreeBSD-14.0-RELEASE-amd64-memstick.img) = ${C}
`;

const find = (text: string, name: string) => findSha256(text, name, { source: 'SUMS' });

const failure = (text: string, name: string): ChecksumListError => thrown(() => find(text, name), ChecksumListError);

describe('findSha256: real-world lists', () => {
  it.each([
    ['Debian (GNU, text mode)', DEBIAN, 'debian-12.5.0-amd64-netinst.iso', B, 2],
    ['Ubuntu (GNU, binary mode)', UBUNTU, 'ubuntu-24.04-live-server-amd64.iso', B, 2],
    ['Fedora (clear-signed BSD; the armor is not read)', FEDORA, 'Fedora-Workstation-Live-x86_64-40-1.14.iso', A, 5],
    ['FreeBSD (BSD tags, SHA512 beside SHA256, uppercase hex)', FREEBSD, 'FreeBSD-14.0-RELEASE-amd64-disc1.iso', B, 2],
    ['CRLF line ends', DEBIAN.replaceAll('\n', '\r\n'), 'debian-12.5.0-amd64-DVD-1.iso', A, 1],
    ['BSD `-r` (one space)', `${A} plain.iso\n`, 'plain.iso', A, 1],
    ['`--tag` without spaces around =', `SHA256 (x.iso)=${A}\n`, 'x.iso', A, 1],
    ['SHA2-256 tag (cksum -a sha2)', `SHA2-256 (x.iso) = ${A}\n`, 'x.iso', A, 1],
    ['name with spaces', `${A}  my disk image.iso\n`, 'my disk image.iso', A, 1],
    ['BSD name with ") = " in it', `SHA256 (odd) = name.iso) = ${A}\n`, 'odd) = name.iso', A, 1],
    ['a name that starts with a space (GNU two spaces)', `${A}   lead.iso\n`, ' lead.iso', A, 1],
    ['comments and blank lines', `# made by hand\n\n   \n${A}  x.iso\n`, 'x.iso', A, 4],
    ['./ prefix in the list', `${A}  ./x.iso\n`, 'x.iso', A, 1],
    ['folders in the list, last component asked', `${A}  pub/iso/x.iso\n${B}  pub/iso/y.iso\n`, 'x.iso', A, 1],
    ['a listed path asked exactly', `${A}  a/x.iso\n${B}  b/x.iso\n`, 'b/x.iso', B, 2],
    ['the same entry twice with the same hash', `${A}  x.iso\n${A} *x.iso\n`, 'x.iso', A, 1],
  ])('%s', (_case, text, name, hex, line) => {
    expect(find(text, name)).toMatchObject({ sha256: hex, line });
  });

  it('reads coreutils escaping: a leading backslash, then \\\\, \\n and \\r in the name', () => {
    const list = `\\${A}  back\\\\slash.iso\n\\${B}  new\\nline.iso\nSHA256 (plain.iso) = ${C}\n\\SHA256 (cr\\rname) = ${A}\n`;
    expect(find(list, 'back\\slash.iso')).toEqual({ name: 'back\\slash.iso', sha256: A, line: 1 });
    expect(find(list, 'new\nline.iso').sha256).toBe(B);
    expect(find(list, 'cr\rname').line).toBe(4);
    // Without the leading backslash the name is taken literally.
    expect(find(`${A}  lit\\nname\n`, 'lit\\nname').sha256).toBe(A);
  });

  it('undoes the dash-escaping of a clear-signed list', () => {
    const signed = `-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n- ${A}  --dash.iso\n-----BEGIN PGP SIGNATURE-----\nxx\n-----END PGP SIGNATURE-----\n`;
    expect(find(signed, '--dash.iso').sha256).toBe(A);
  });

  it('skips lines it cannot read, as sha256sum -c does, when the entry asked for is fine', () => {
    expect(find(`garbage line here\n${A}  x.iso\nnot-hex  y.iso\n`, 'x.iso').sha256).toBe(A);
  });
});

describe('findSha256: clear errors', () => {
  const cases: [string, string, string, ChecksumErrorCode, string][] = [
    ['name not listed', DEBIAN, 'other.iso', 'ENOCHECKSUM', 'SUMS: does not list "other.iso" (3 entries)'],
    ['only a SHA-512', `${SHA512}  x.iso\n`, 'x.iso', 'ENOCHECKSUM', 'lists "x.iso" only with a SHA512 hash (line 1); a SHA-256 is needed'],
    ['only an MD5 tag', `MD5 (x.iso) = ${'a'.repeat(32)}\n`, 'x.iso', 'ENOCHECKSUM', 'only with a MD5 hash'],
    ['non-hex SHA-256 (GNU)', `${'g'.repeat(64)}  x.iso\n${B}  y.iso\n`, 'x.iso', 'EBADCHECKSUM', 'line 1: the SHA-256 of "x.iso" is not 64 hex digits'],
    ['non-hex SHA-256 (BSD)', `SHA256 (x.iso) = ${A.slice(0, 63)}z\n${B}  y.iso\n`, 'x.iso', 'EBADCHECKSUM', 'line 1: the SHA-256 of "x.iso" is not 64 hex digits'],
    ['SHA-256 cut short', `SHA256 (x.iso) = ${A.slice(0, 60)}\n`, 'x.iso', 'EBADCHECKSUM', 'not 64 hex digits'],
    ['hex of no known length', `${A.slice(0, 63)}  x.iso\n${B}  y.iso\n`, 'x.iso', 'EBADCHECKSUM', 'line 1: the hash of "x.iso" is not a hex digest'],
    ['conflicting duplicates', `${A}  x.iso\n${B}  y.iso\n${C}  x.iso\n`, 'x.iso', 'ECHECKSUMCONFLICT', 'lists "x.iso" with different hashes ("x.iso" on line 1, "x.iso" on line 3)'],
    ['ambiguous last component', `${A}  amd64/x.iso\n${B}  arm64/x.iso\n`, 'x.iso', 'ECHECKSUMAMBIGUOUS', '"x.iso" could be any of "amd64/x.iso" on line 1, "arm64/x.iso" on line 2: give the name as listed'],
    ['an HTML page', '<!DOCTYPE html>\n<html><body>Not Found</body></html>\n', 'x.iso', 'ENOTCHECKSUMS', 'has no checksum lines'],
    ['an empty file', '', 'x.iso', 'ENOTCHECKSUMS', 'has no checksum lines'],
    ['only the signature block names it', FEDORA.replace(/^SHA256 \(Fedora-Workstation-Live-x86_64.*$/m, ''), 'Fedora-Workstation-Live-x86_64-40-1.14.iso', 'ENOCHECKSUM', 'does not list'],
  ];
  it.each(cases)('%s', (_case, text, name, code, message) => {
    const err = failure(text, name);
    expect(err).toBeInstanceOf(UsageError);
    expect(err.code).toBe(code);
    expect(err.message).toContain(message);
    expect(err.message.startsWith('SUMS: ')).toBe(true);
    expect(err.message).not.toContain('\n');
  });

  it('never matches a different file that merely ends with the name', () => {
    expect(failure(`${A}  my-x.iso\n`, 'x.iso').code).toBe('ENOCHECKSUM');
    expect(failure(`${A}  a/x.iso\n`, 'b/x.iso').code).toBe('ENOCHECKSUM');
  });
});
