import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { LoadTextError, loadText } from '../../src/common/load-text.js';
import { tempDir } from '../helpers/tree.js';

const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A node:http server on 127.0.0.1 answering with `handler`; resolves to its base URL. */
async function serve(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.on('connection', (socket) => server.once('close', () => socket.destroy()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function loadError(location: string, options: Parameters<typeof loadText>[1]): Promise<LoadTextError> {
  const err = await loadText(location, options).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (err instanceof LoadTextError) return err;
  throw new Error(`expected a LoadTextError, got ${String(err)}`);
}

describe('loadText from a local path', () => {
  it('reads a file as UTF-8 without its byte-order mark', async () => {
    const file = path.join(tempDir(), 'SHA256SUMS');
    fs.writeFileSync(file, '\uFEFFcafé\n');
    expect(await loadText(file, { maxBytes: 100 })).toEqual({ text: 'café\n', source: file });
  });

  it('refuses a missing file, a folder and a file over the cap, naming the path', async () => {
    const dir = tempDir();
    const big = path.join(dir, 'big');
    fs.writeFileSync(big, 'x'.repeat(101));
    expect((await loadError(path.join(dir, 'nope'), { maxBytes: 100 })).message).toBe(`${path.join(dir, 'nope')}: does not exist`);
    expect((await loadError(dir, { maxBytes: 100 })).message).toBe(`${dir}: is not a regular file`);
    expect((await loadError(big, { maxBytes: 100 })).message).toBe(`${big}: is larger than 100 bytes`);
    expect((await loadText(big, { maxBytes: 101 })).text).toHaveLength(101);
  });

  it('takes a path that merely starts with "http" as a path', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'http:x'), 'local');
    expect((await loadText(path.join(dir, 'http:x'), { maxBytes: 10 })).text).toBe('local');
  });
});

describe('loadText from an http URL', () => {
  it('fetches the body, follows redirects, reports the final URL and sends the headers given', async () => {
    let auth: string | undefined;
    const base = await serve((req, res) => {
      if (req.url === '/old') return void res.writeHead(302, { location: '/new.meta4' }).end();
      auth = req.headers.authorization;
      res.writeHead(200, { 'content-type': 'application/metalink4+xml' }).end('<metalink/>');
    });
    const loaded = await loadText(`${base}/old`, { maxBytes: 100, headers: { Authorization: 'Bearer t0ken' } });
    expect(loaded).toEqual({ text: '<metalink/>', source: `${base}/new.meta4` });
    expect(auth).toBe('Bearer t0ken');
  });

  it('refuses a non-200 answer, naming the URL and the status but never its query', async () => {
    const base = await serve((_req, res) => res.writeHead(404, 'Not Found').end('<html>gone</html>'));
    const err = await loadError(`${base}/SHA256SUMS?sig=s3cret`, { maxBytes: 100 });
    expect(err.message).toBe(`${base}/SHA256SUMS?***: HTTP 404 Not Found`);
    expect(err.code).toBe('ELOADTEXT');
  });

  it('refuses a body over the cap, declared or not, and a gzip bomb after decoding', async () => {
    const bomb = gzipSync(Buffer.alloc(50 * 1024 * 1024));
    const base = await serve((req, res) => {
      if (req.url === '/declared') return void res.writeHead(200, { 'content-length': '1000' }).end('x'.repeat(1000));
      if (req.url === '/gzip') return void res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': bomb.length }).end(bomb);
      res.writeHead(200);
      // Chunked and endless: the loader must stop reading at the cap, not wait for the end.
      const timer = setInterval(() => res.write('y'.repeat(64 * 1024)), 1);
      res.on('close', () => clearInterval(timer));
    });
    expect((await loadError(`${base}/declared`, { maxBytes: 999 })).message).toBe(`${base}/declared: is larger than 999 bytes (Content-Length 1000)`);
    expect((await loadError(`${base}/endless`, { maxBytes: 1024 * 1024 })).message).toBe(`${base}/endless: is larger than 1048576 bytes`);
    expect((await loadError(`${base}/gzip`, { maxBytes: 1024 * 1024 })).message).toBe(`${base}/gzip: is larger than 1048576 bytes`);
  });

  it('gives up on a server that never answers, after the timeout', async () => {
    const base = await serve(() => undefined);
    expect((await loadError(`${base}/stall`, { maxBytes: 10, timeoutMs: 200 })).message).toBe(`${base}/stall: timed out`);
  });

  it('sends the credentials of a URL as Basic authorization, as curl does, and never names them', async () => {
    let auth: string | undefined;
    const base = await serve((req, res) => {
      auth = req.headers.authorization;
      res.writeHead(401).end();
    });
    const err = await loadError(base.replace('//', '//us%40er:p%3Aw@') + '/x', { maxBytes: 10 });
    expect(auth).toBe(`Basic ${Buffer.from('us@er:p:w').toString('base64')}`);
    expect(err.message).toBe(`${base}/x: HTTP 401 Unauthorized`);
  });

  it('names the cause when nothing listens, without the credentials of the URL', async () => {
    const base = await serve(() => undefined);
    const port = new URL(base).port;
    await new Promise((resolve) => servers.pop()?.close(resolve));
    const err = await loadError(`http://user:pw@127.0.0.1:${port}/x`, { maxBytes: 10 });
    expect(err.message).toMatch(new RegExp(`^http://\\*\\*\\*@127\\.0\\.0\\.1:${port}/x: cannot be fetched \\(ECONNREFUSED`));
    expect(err.message).not.toContain('pw');
  });
});
