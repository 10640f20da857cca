/**
 * Real HTTP(S) servers for assemble tests, on 127.0.0.1, that serve one file with ranges (RFC 9110) and
 * misbehave on purpose when told to. Each records what it was asked, so tests can check what was read.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';

export interface Asked {
  readonly path: string;
  readonly range: string | undefined;
  readonly headers: http.IncomingHttpHeaders;
  /** The whole response was handed to the socket. */
  answered: boolean;
}

/** What to do with one request (its index among all requests to this server, from 0). */
export type Misbehaviour =
  | { readonly kind: 'ignore-range' }
  | { readonly kind: 'wrong-range' }
  | { readonly kind: 'gzip' }
  | { readonly kind: 'stall' }
  | { readonly kind: 'close-mid-body' }
  /** Half the body, then nothing more (the connection stays open). */
  | { readonly kind: 'stall-mid-body' }
  /** The right Content-Range, and more bytes than it names (Content-Length counting them). */
  | { readonly kind: 'long-body' }
  | { readonly kind: 'status'; readonly status: number; readonly retryAfter?: string }
  | { readonly kind: 'redirect'; readonly location: string };

export interface ServeOptions {
  /** The served file's bytes; a function lets a test change the file between requests. */
  readonly content: Buffer | (() => Buffer);
  /** Strong ETag of the current content (default: derived from its length and first bytes). */
  readonly etag?: () => string;
  /** Where the file is (default /f.bin). */
  readonly path?: string;
  /** Per request: misbehave, or undefined to serve correctly. */
  readonly misbehave?: (request: Asked, index: number) => Misbehaviour | undefined;
  /** Pace the body at about this many bytes per second. */
  readonly bytesPerSecond?: number;
  readonly tls?: { readonly key: string; readonly cert: string };
}

export interface TestServer {
  readonly url: string;
  readonly origin: string;
  readonly asked: Asked[];
  /** The most connections it had open at one time. */
  readonly mostAtOnce: () => number;
  close(): Promise<void>;
}

const PACE_CHUNK = 16 * 1024;

export async function serveFile(options: ServeOptions): Promise<TestServer> {
  const asked: Asked[] = [];
  const sockets = new Set<net.Socket>();
  const filePath = options.path ?? '/f.bin';
  let mostAtOnce = 0;
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const request: Asked = { path: req.url ?? '', range: req.headers.range, headers: req.headers, answered: false };
    res.on('finish', () => (request.answered = true));
    const index = asked.length;
    asked.push(request);
    const content = typeof options.content === 'function' ? options.content() : options.content;
    const etag = options.etag?.() ?? `"${content.length}-${content.subarray(0, 8).toString('hex')}"`;
    const action = options.misbehave?.(request, index);
    if (action?.kind === 'redirect') {
      res.writeHead(302, { location: action.location }).end();
      return;
    }
    if (action?.kind === 'status') {
      res.writeHead(action.status, action.retryAfter === undefined ? {} : { 'retry-after': action.retryAfter }).end();
      return;
    }
    if (req.url !== filePath) {
      res.writeHead(404).end();
      return;
    }
    const range = parseRange(req.headers.range, content.length);
    const headers: http.OutgoingHttpHeaders = { etag, 'accept-ranges': 'bytes', 'last-modified': 'Tue, 01 Dec 2026 10:00:00 GMT' };
    if (range === undefined || action?.kind === 'ignore-range') {
      res.writeHead(200, { ...headers, 'content-length': content.length });
      void send(res, content, options.bytesPerSecond);
      return;
    }
    if (range === 'unsatisfiable') {
      res.writeHead(416, { 'content-range': `bytes */${content.length}` }).end();
      return;
    }
    const [first, last] = range;
    let body = content.subarray(first, last + 1);
    if (action?.kind === 'gzip') {
      body = gzipSync(body);
      headers['content-encoding'] = 'gzip';
    }
    if (action?.kind === 'long-body') body = Buffer.concat([body, Buffer.alloc(16)]);
    const shown = action?.kind === 'wrong-range' ? `bytes ${first + 1}-${last + 1}/${content.length}` : `bytes ${first}-${last}/${content.length}`;
    res.writeHead(206, { ...headers, 'content-range': shown, 'content-length': body.length });
    if (action?.kind === 'stall') {
      res.flushHeaders();
      return;
    }
    if (action?.kind === 'close-mid-body') {
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.destroy());
      return;
    }
    if (action?.kind === 'stall-mid-body') {
      res.write(body.subarray(0, Math.floor(body.length / 2)));
      return;
    }
    void send(res, body, options.bytesPerSecond);
  };
  const server = options.tls === undefined ? http.createServer(handler) : https.createServer({ key: options.tls.key, cert: options.tls.cert }, handler);
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    mostAtOnce = Math.max(mostAtOnce, sockets.size);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `${options.tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`;
  return {
    url: `${origin}${filePath}`,
    origin,
    asked,
    mostAtOnce: () => mostAtOnce,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function parseRange(header: string | undefined, size: number): [number, number] | 'unsatisfiable' | undefined {
  const match = /^bytes=(\d+)-(\d*)$/.exec(header ?? '');
  if (match === null) return undefined;
  const first = Number(match[1]);
  const last = match[2] === '' ? size - 1 : Math.min(size - 1, Number(match[2]));
  return first >= size || first > last ? 'unsatisfiable' : [first, last];
}

async function send(res: http.ServerResponse, body: Buffer, bytesPerSecond: number | undefined): Promise<void> {
  if (bytesPerSecond === undefined) {
    res.end(body);
    return;
  }
  for (let at = 0; at < body.length && !res.destroyed; at += PACE_CHUNK) {
    res.write(body.subarray(at, at + PACE_CHUNK));
    await new Promise((resolve) => setTimeout(resolve, (PACE_CHUNK * 1000) / bytesPerSecond));
  }
  res.end();
}

export interface TestCa {
  /** PEM file of the CA, for NODE_EXTRA_CA_CERTS. */
  readonly caFile: string;
  readonly key: string;
  readonly cert: string;
}

/** A throwaway CA and a certificate it signed for 127.0.0.1, made with openssl. */
export function makeTestCa(dir: string): TestCa {
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.crt'), '-subj', '/CN=backupd test CA', '-days', '2');
  openssl('req', ...ec, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=127.0.0.1');
  fs.writeFileSync(file('ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file('server.crt'), '-days', '2', '-extfile', file('ext.cnf'));
  return { caFile: file('ca.crt'), key: fs.readFileSync(file('server.key'), 'utf8'), cert: fs.readFileSync(file('server.crt'), 'utf8') };
}

export interface TestProxy {
  readonly url: string;
  /** `CONNECT host:port` tunnels and absolute-URL requests it forwarded. */
  readonly seen: string[];
  close(): Promise<void>;
}

/** A forward proxy: CONNECT tunnels (what undici uses, for http and https) and plain absolute-URL requests. */
export async function startProxy(): Promise<TestProxy> {
  const seen: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    seen.push(`GET ${req.url}`);
    const upstream = http.request(req.url ?? '', { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    seen.push(`CONNECT ${req.url}`);
    const [host, port] = (req.url ?? '').split(':');
    const upstream = net.connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    for (const socket of [upstream, client]) {
      sockets.add(socket);
      socket.on('error', () => {
        upstream.destroy();
        client.destroy();
      });
      socket.on('close', () => sockets.delete(socket));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
