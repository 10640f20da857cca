import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MetalinkError, parseMetalink, type MetalinkFile } from '../../src/assemble/metalink.js';
import { UsageError } from '../../src/common/errors.js';
import { thrown } from '../helpers/thrown.js';

const PIECE = 256 * 1024;
/** 2.5 pieces of content, so the last piece is short. */
const CONTENT = Buffer.alloc(PIECE * 2 + PIECE / 2, 0x5a).fill(0x17, PIECE);
const hashOf = (algorithm: string, data: Buffer) => createHash(algorithm).update(data).digest('hex');
const piecesOf = (algorithm: string) =>
  [0, 1, 2].map((i) => hashOf(algorithm, CONTENT.subarray(i * PIECE, Math.min(CONTENT.length, (i + 1) * PIECE))));
const SHA256 = hashOf('sha256', CONTENT);
const SHA1 = hashOf('sha1', CONTENT);
const MD5 = hashOf('md5', CONTENT);

/** Shaped like MirrorBrain's .meta4 (download.opensuse.org and others): comments, signature, torrent, ftp. */
const MIRRORBRAIN_META4 = `<?xml version="1.0" encoding="UTF-8"?>
<metalink xmlns="urn:ietf:params:xml:ns:metalink">
  <generator>MirrorBrain/2.19.0</generator>
  <origin dynamic="true">http://download.example.org/iso/distro-15.5-NET-x86_64.iso.meta4</origin>
  <published>2023-06-07T10:19:44Z</published>
  <publisher>
    <name>Example Project</name>
    <url>http://download.example.org/</url>
  </publisher>

  <file name="distro-15.5-NET-x86_64.iso">
    <size>${CONTENT.length}</size>
    <!-- <mtime>1684841220</mtime> -->
    <hash type="md5">${MD5}</hash>
    <hash type="sha-1">${SHA1}</hash>
    <hash type="sha-256">${SHA256.toUpperCase()}</hash>
    <pieces length="${PIECE}" type="sha-1">
${piecesOf('sha1').map((h) => `      <hash>${h}</hash>`).join('\n')}
    </pieces>
    <pieces length="${PIECE}" type="sha-256">
${piecesOf('sha256').map((h) => `      <hash>${h}</hash>`).join('\n')}
    </pieces>
    <signature mediatype="application/pgp-signature">-----BEGIN PGP SIGNATURE-----

iQEzBAABCAAdFiEE
-----END PGP SIGNATURE-----
</signature>
    <url location="de" priority="2">http://ftp.example.de/pub/distro/iso/distro-15.5-NET-x86_64.iso</url>
    <url location="us" priority="1">https://mirror.example.com/distro/iso/distro-15.5-NET-x86_64.iso?token=abc&amp;expires=1</url>
    <url location="de" priority="3">ftp://ftp.example.de/pub/distro/iso/distro-15.5-NET-x86_64.iso</url>
    <url>http://slow.example.net/distro-15.5-NET-x86_64.iso</url>
    <url location="fr" priority="2">http://miroir.example.fr/distro/distro-15.5-NET-x86_64.iso</url>
    <url location="de" priority="2">http://ftp.example.de/pub/distro/iso/distro-15.5-NET-x86_64.iso</url>
    <metaurl mediatype="torrent" priority="1">http://download.example.org/iso/distro-15.5-NET-x86_64.iso.torrent</metaurl>
  </file>
</metalink>
`;

/** Shaped like the metalinker.org 3.0 files (and aria2's test data): <files>, <verification>, <resources>. */
const METALINK3 = `<?xml version="1.0" encoding="utf-8"?>
<metalink version="3.0" xmlns="http://www.metalinker.org/" generator="Metalink Editor version 1.1.0" type="static" pubdate="Thu, 07 Apr 2011 00:00:00 GMT">
  <publisher><name>Example</name><url>http://www.example.org</url></publisher>
  <files>
    <file name="tool-1.0.tar.bz2">
      <version>1.0</version>
      <language>en-US</language>
      <os>Linux-x86</os>
      <size>${CONTENT.length}</size>
      <verification>
        <hash type="md5">${MD5}</hash>
        <hash type="sha1">${SHA1}</hash>
        <hash type="sha256">${SHA256}</hash>
        <pieces length="${PIECE}" type="sha1">
          <hash piece="2">${piecesOf('sha1')[2]}</hash>
          <hash piece="0">${piecesOf('sha1')[0]}</hash>
          <hash piece="1">${piecesOf('sha1')[1]}</hash>
        </pieces>
      </verification>
      <resources maxconnections="1">
        <url type="ftp" location="us" preference="100">ftp://ftp.example.org/tool-1.0.tar.bz2</url>
        <url type="http" location="jp" preference="90">http://jp.example.org/tool-1.0.tar.bz2</url>
        <url type="http" location="us" preference="100" maxconnections="1">http://us.example.org/tool-1.0.tar.bz2</url>
        <url type="https">https://secure.example.org/tool-1.0.tar.bz2</url>
        <url type="bittorrent" preference="100">http://torrent.example.org/tool-1.0.tar.bz2.torrent</url>
      </resources>
    </file>
    <file name="tool-1.0.tar.bz2.asc">
      <size>836</size>
      <resources><url type="http" preference="100">http://us.example.org/tool-1.0.tar.bz2.asc</url></resources>
    </file>
  </files>
</metalink>
`;

const v4 = (file: string) => `<?xml version="1.0" encoding="UTF-8"?>\n<metalink xmlns="urn:ietf:params:xml:ns:metalink">\n${file}\n</metalink>\n`;
const parse = (text: string, name?: string): MetalinkFile => parseMetalink(text, { source: 'x.meta4', ...(name === undefined ? {} : { name }) });

const failure = (text: string, name?: string): MetalinkError => thrown(() => parse(text, name), MetalinkError);

describe('parseMetalink: real-world shapes', () => {
  it('reads a MirrorBrain-style Metalink 4: sha-256 pieces preferred, http(s) mirrors by priority, the rest noted', () => {
    const file = parse(MIRRORBRAIN_META4);
    expect(file).toMatchObject({ version: 4, name: 'distro-15.5-NET-x86_64.iso', size: CONTENT.length, sha256: SHA256 });
    expect(file.otherHashes).toEqual([
      { type: 'md5', hex: MD5 },
      { type: 'sha-1', hex: SHA1 },
    ]);
    expect(file.pieces).toEqual({ type: 'sha-256', length: PIECE, hashes: piecesOf('sha256') });
    expect(file.mirrors).toEqual([
      { url: 'https://mirror.example.com/distro/iso/distro-15.5-NET-x86_64.iso?token=abc&expires=1', priority: 1, location: 'us' },
      { url: 'http://ftp.example.de/pub/distro/iso/distro-15.5-NET-x86_64.iso', priority: 2, location: 'de' },
      { url: 'http://miroir.example.fr/distro/distro-15.5-NET-x86_64.iso', priority: 2, location: 'fr' },
      { url: 'http://slow.example.net/distro-15.5-NET-x86_64.iso', priority: 999_999 },
    ]);
    expect(file.notes).toEqual([
      '<pieces type="sha-1"> left out: the sha-256 pieces are used',
      'ftp://ftp.example.de/pub/distro/iso/distro-15.5-NET-x86_64.iso left out: only http and https mirrors are fetched',
      '1 <metaurl> (torrent or other metadata) left out: only http and https mirrors are fetched',
    ]);
  });

  it('reads a Metalink 3: numbered pieces put in order, preference turned into priority, torrents and ftp left out', () => {
    const file = parse(METALINK3, 'tool-1.0.tar.bz2');
    expect(file).toMatchObject({ version: 3, name: 'tool-1.0.tar.bz2', size: CONTENT.length, sha256: SHA256 });
    expect(file.pieces).toEqual({ type: 'sha-1', length: PIECE, hashes: piecesOf('sha1') });
    expect(file.mirrors).toEqual([
      { url: 'http://us.example.org/tool-1.0.tar.bz2', priority: 1, location: 'us' },
      { url: 'http://jp.example.org/tool-1.0.tar.bz2', priority: 11, location: 'jp' },
      { url: 'https://secure.example.org/tool-1.0.tar.bz2', priority: 999_999 },
    ]);
    expect(file.notes).toEqual([
      'ftp://ftp.example.org/tool-1.0.tar.bz2 left out: its type is ftp; only http and https mirrors are fetched',
      'http://torrent.example.org/tool-1.0.tar.bz2.torrent left out: its type is bittorrent; only http and https mirrors are fetched',
    ]);
  });

  it('picks the file asked for, by its exact name or else by its last component', () => {
    expect(parse(METALINK3, 'tool-1.0.tar.bz2.asc')).toMatchObject({ name: 'tool-1.0.tar.bz2.asc', size: 836, pieces: undefined, sha256: undefined });
    const nested = v4('<file name="images/disk.img"><size>10</size></file><file name="images/disk.img.sig"><size>5</size></file>');
    expect(parse(nested, 'disk.img').name).toBe('images/disk.img');
    expect(parse(nested, 'images/disk.img.sig').size).toBe(5);
  });

  it('reads a document whose elements carry a namespace prefix', () => {
    const prefixed = `<?xml version="1.0"?><ml:metalink xmlns:ml="urn:ietf:params:xml:ns:metalink"><ml:file name="a.bin"><ml:size>3</ml:size><ml:url priority="5">http://h/a.bin</ml:url></ml:file></ml:metalink>`;
    expect(parse(prefixed)).toMatchObject({ name: 'a.bin', size: 3, mirrors: [{ url: 'http://h/a.bin', priority: 5 }] });
  });

  it('decodes character references and CDATA as XML does', () => {
    const file = parse(v4('<file name="caf&#xE9; &amp; b&#233;b&#233;.iso"><url><![CDATA[http://h/a?x=1&y=2]]></url></file>'));
    expect(file.name).toBe('café & bébé.iso');
    expect(file.mirrors[0]?.url).toBe('http://h/a?x=1&y=2');
  });

  it('accepts a file without size, hashes or mirrors (the mirrors may come from --from)', () => {
    expect(parse(v4('<file name="a.iso"/>'))).toEqual({ version: 4, name: 'a.iso', size: undefined, sha256: undefined, otherHashes: [], pieces: undefined, mirrors: [], notes: [] });
  });

  it('keeps pieces unchecked against the size when no size is given, and takes size 0 with no pieces', () => {
    expect(parse(v4(`<file name="a"><pieces length="4" type="sha-256"><hash>${SHA256}</hash></pieces></file>`)).pieces?.hashes).toEqual([SHA256]);
    expect(parse(v4('<file name="a"><size>0</size><pieces length="4" type="sha-256"></pieces></file>')).pieces).toEqual({ type: 'sha-256', length: 4, hashes: [] });
  });

  it('never names a mirror\'s credentials or query in a note', () => {
    const file = parse(v4('<file name="a"><url>ftp://user:secret@h/a?sig=XYZ</url></file>'));
    expect(file.notes.join('\n')).not.toMatch(/secret|XYZ/);
    expect(file.notes).toEqual(['ftp://***@h/a?*** left out: only http and https mirrors are fetched']);
  });
});

describe('parseMetalink: names that escape the output folder', () => {
  it.each([
    ['absolute', '/etc/passwd', 'is an absolute path'],
    ['parent', '../x.iso', 'escapes the output folder'],
    ['parent inside', 'a/../../x.iso', 'escapes the output folder'],
    ['bare parent', '..', 'escapes the output folder'],
    ['backslash', '..\\..\\x.iso', 'contains a backslash'],
    ['windows path', 'C:\\Windows\\x.iso', 'contains a backslash'],
    ['NUL', 'a\u0000b', 'contains a NUL byte'],
    ['newline', 'a&#10;b', 'contains a control character'],
    ['terminal escape', 'a\u001b[2Jb', 'contains a control character'],
    ['empty', '', 'is empty'],
    ['trailing slash', 'dir/', 'has an empty or "." component'],
    ['double slash', 'a//b', 'has an empty or "." component'],
    ['dot', './a', 'has an empty or "." component'],
  ])('%s: %j', (_case, name, problem) => {
    const err = failure(v4(`<file name="${name}"><size>1</size></file>`));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.code).toBe('EUNSAFENAME');
    expect(err.field).toBe('<file name>');
    expect(err.message).toContain(problem);
    expect(err.message).toMatch(/^x\.meta4: <file name> "/);
    expect(err.message).not.toContain('\n');
  });

  it('takes a relative name with folders as a path under the output folder', () => {
    expect(parse(v4('<file name="pub/iso/a..b.iso"/>')).name).toBe('pub/iso/a..b.iso');
  });

  it('checks the name of the file chosen in a Metalink 3 too', () => {
    expect(failure(`<metalink version="3.0" xmlns="http://www.metalinker.org/"><files><file name="../../.bashrc"/></files></metalink>`).code).toBe('EUNSAFENAME');
  });

  it('refuses a missing name', () => {
    expect(failure(v4('<file><size>1</size></file>'))).toMatchObject({ code: 'EMETALINK', field: '<file name>' });
  });
});

describe('parseMetalink: hostile and malformed documents', () => {
  const bomb = `<?xml version="1.0"?>
<!DOCTYPE metalink [
  <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
  <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
  <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
]>
<metalink xmlns="urn:ietf:params:xml:ns:metalink"><file name="&c;"><size>1</size></file></metalink>`;

  it.each([
    ['billion laughs', bomb, 'EMETALINK', 'declares XML entities'],
    ['one harmless-looking entity', v4('').replace('<metalink', '<!DOCTYPE metalink [<!ENTITY n "a.iso">]><metalink').replace('\n\n', '<file name="&n;"/>'), 'EMETALINK', 'declares XML entities'],
    ['external entity', `<?xml version="1.0"?><!DOCTYPE metalink [<!ENTITY x SYSTEM "file:///etc/passwd">]><metalink><file name="&x;"/></metalink>`, 'EMETALINK', 'declares XML entities'],
    ['parameter entity', `<?xml version="1.0"?><!DOCTYPE metalink [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]><metalink><file name="a"/></metalink>`, 'EMETALINK', 'cannot be read as a Metalink'],
    ['NUL by reference', v4('<file name="a&#0;b"/>'), 'EMETALINK', 'U+0000'],
    ['prototype pollution', v4('<file name="a"><__proto__><polluted>1</polluted></__proto__></file>'), 'EMETALINK', '__proto__'],
    ['100,000 nested elements', v4(`<file name="a">${'<x>'.repeat(100_000)}${'</x>'.repeat(100_000)}</file>`), 'EMETALINK', 'nested'],
    ['not XML', 'PK\u0003\u0004 binary junk', 'ENOTMETALINK', 'not well-formed XML (line 1'],
    ['truncated', MIRRORBRAIN_META4.slice(0, 600), 'ENOTMETALINK', 'not well-formed XML'],
    ['an HTML error page', '<!DOCTYPE html><html><head><title>404</title></head><body>Not Found</body></html>', 'ENOTMETALINK', 'its root element is <html>'],
    ['an RSS feed', '<?xml version="1.0"?><rss version="2.0"><channel/></rss>', 'ENOTMETALINK', 'its root element is <rss>'],
    ['no file', v4(''), 'EMETALINK', '<file> is missing'],
  ])('%s', (_case, text, code, message) => {
    const err = failure(text);
    expect(err.code).toBe(code);
    expect(err.message).toContain(message);
    expect(err.message).toMatch(/^x\.meta4: /);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('parseMetalink: fields that do not validate name the field', () => {
  const sha = (hex: string) => v4(`<file name="a"><hash type="sha-256">${hex}</hash></file>`);
  it.each([
    ['size negative', v4('<file name="a"><size>-1</size></file>'), '<size>'],
    ['size with exponent', v4('<file name="a"><size>1e9</size></file>'), '<size>'],
    ['size past 2^53', v4('<file name="a"><size>99999999999999999999</size></file>'), '<size>'],
    ['size empty', v4('<file name="a"><size/></file>'), '<size>'],
    ['sha-256 too short', sha(SHA256.slice(1)), '<hash type="sha-256">'],
    ['sha-256 not hex', sha(`${SHA256.slice(1)}g`), '<hash type="sha-256">'],
    ['sha-256 twice, differing', v4(`<file name="a"><hash type="sha-256">${SHA256}</hash><hash type="sha256">${'0'.repeat(64)}</hash></file>`), '<hash type="sha-256">'],
    ['hash without type', v4(`<file name="a"><hash>${SHA256}</hash></file>`), '<hash type>'],
    ['piece length 0', v4(`<file name="a"><pieces length="0" type="sha-256"><hash>${SHA256}</hash></pieces></file>`), '<pieces length>'],
    ['piece length missing', v4(`<file name="a"><pieces type="sha-256"><hash>${SHA256}</hash></pieces></file>`), '<pieces length>'],
    ['piece length not a number', v4(`<file name="a"><pieces length="256k" type="sha-256"><hash>${SHA256}</hash></pieces></file>`), '<pieces length>'],
    ['piece hash not hex', v4(`<file name="a"><pieces length="4" type="sha-1"><hash>${'z'.repeat(40)}</hash></pieces></file>`), '<pieces> <hash> #0'],
    ['too few pieces for the size', v4(`<file name="a"><size>${CONTENT.length}</size><pieces length="${PIECE}" type="sha-256"><hash>${SHA256}</hash></pieces></file>`), '<pieces>'],
    ['v3 piece number repeated', `<metalink version="3.0"><files><file name="a"><verification><pieces length="4" type="sha1"><hash piece="0">${SHA1}</hash><hash piece="0">${SHA1}</hash></pieces></verification></file></files></metalink>`, '<pieces> <hash piece>'],
    ['v3 piece number out of range', `<metalink version="3.0"><files><file name="a"><verification><pieces length="4" type="sha1"><hash piece="1">${SHA1}</hash></pieces></verification></file></files></metalink>`, '<pieces> <hash piece>'],
    ['priority 0', v4('<file name="a"><url priority="0">http://h/a</url></file>'), '<url priority>'],
    ['priority too large', v4('<file name="a"><url priority="1000000">http://h/a</url></file>'), '<url priority>'],
    ['priority not a number', v4('<file name="a"><url priority="high">http://h/a</url></file>'), '<url priority>'],
    ['v3 preference above 100', '<metalink version="3.0"><files><file name="a"><resources><url type="http" preference="101">http://h/a</url></resources></file></files></metalink>', '<url preference>'],
    ['url not a URL', v4('<file name="a"><url>not a url</url></file>'), '<url>'],
  ])('%s', (_case, text, field) => {
    const err = failure(text);
    expect(err).toMatchObject({ code: 'EMETALINK', field });
    expect(err.message).toContain(`x.meta4: ${field} `);
  });

  it('asks for a name when several files are listed, and says which ones', () => {
    const err = failure(METALINK3);
    expect(err.field).toBe('<file>');
    expect(err.message).toBe('x.meta4: <file> appears 2 times ("tool-1.0.tar.bz2", "tool-1.0.tar.bz2.asc"): name the file to assemble');
    expect(failure(METALINK3, 'other.iso').message).toContain('named "other.iso" is not listed (it lists "tool-1.0.tar.bz2", "tool-1.0.tar.bz2.asc")');
    expect(failure(v4('<file name="a/x"/><file name="b/x"/>'), 'x').message).toContain('named "x" is listed 2 times');
  });
});
