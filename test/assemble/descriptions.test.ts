import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadListedSha256, loadMetalink } from '../../src/assemble/descriptions.js';
import { tempDir } from '../helpers/tree.js';

const HEX = 'ab'.repeat(32);
let server: http.Server | undefined;
afterEach(async () => {
  await new Promise((resolve) => (server === undefined ? resolve(undefined) : server.close(resolve)));
  server = undefined;
});

async function serveOnce(body: string): Promise<string> {
  server = http.createServer((_req, res) => res.writeHead(200).end(body));
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('loading --metalink and --checksums', () => {
  it('reads a Metalink from a path and names the path in its errors', async () => {
    const file = path.join(tempDir(), 'a.meta4');
    fs.writeFileSync(file, `<metalink xmlns="urn:ietf:params:xml:ns:metalink"><file name="a.iso"><hash type="sha-256">${HEX}</hash></file></metalink>`);
    expect(await loadMetalink(file, undefined)).toMatchObject({ name: 'a.iso', sha256: HEX });
    fs.writeFileSync(file, '<metalink><file name="../a.iso"/></metalink>');
    await expect(loadMetalink(file, undefined)).rejects.toThrow(`${file}: <file name> "../a.iso" escapes the output folder`);
  });

  it('looks a name up in a checksum list fetched by URL and names the URL in its errors', async () => {
    const base = await serveOnce(`${HEX}  a.iso\n`);
    expect(await loadListedSha256(`${base}/SHA256SUMS`, 'a.iso')).toEqual({ name: 'a.iso', sha256: HEX, line: 1 });
    await expect(loadListedSha256(`${base}/SHA256SUMS`, 'b.iso')).rejects.toThrow(`${base}/SHA256SUMS: does not list "b.iso" (1 entries)`);
  });
});
