/**
 * `backup watch --http 127.0.0.1:8470`: the status page (web/index.html and its ES module), the same
 * JSON API as the socket, GET /healthz and GET /metrics, behind http-guard's checks. Loopback only,
 * unless the config allows more; the token lives 0600 in the state folder.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../common/atomic.js';
import { UsageError } from '../common/errors.js';
import { rawFromUser } from '../common/raw-path.js';
import type { EventStream } from './event-stream.js';
import { checkRequest, hostAllowed, isLoginRequest, sameSecret, TOKEN_COOKIE, type GuardSettings } from './http-guard.js';
import { apiHandler, sendJson } from './http-api.js';
import { renderMetrics } from './metrics.js';
import type { ControlApi } from './routes.js';

export interface PageServerOptions {
  /** "127.0.0.1:8470", "[::1]:8470", "localhost:0" (any free port). */
  readonly listen: string;
  /** The config allows a non-loopback address. */
  readonly allowRemote: boolean;
  readonly tokenFile: string;
  readonly api: ControlApi;
  readonly stream: EventStream;
}

export interface PageServer {
  /** The link that logs a browser in (sets the cookie): it holds the token. */
  readonly loginUrl: string;
  close(): Promise<void>;
}

const WEB_FOLDER = fileURLToPath(new URL('../../web/', import.meta.url));
const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
};
const PAGE_HEADERS = {
  'content-security-policy': "default-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

export async function startPageServer(options: PageServerOptions): Promise<PageServer> {
  const { host, port } = parseListen(options.listen);
  if (!isLoopback(host) && !options.allowRemote) {
    throw new UsageError(`--http ${options.listen}: not a loopback address; set "httpAllowRemote": true in the config to serve other machines (the token is still required)`);
  }
  const token = loadOrCreateToken(options.tokenFile);
  const settings: { token: string; hosts: Set<string> } = { token, hosts: new Set() };
  const api = apiHandler(options.api, options.stream);
  const server = http.createServer((req, res) => handle(req, res, settings, options, api));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new UsageError(`--http ${options.listen}: cannot listen (${err.code ?? err.message})`)));
    server.listen(port, host.replace(/^\[|\]$/g, ''), () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  for (const name of [host, 'localhost', ...(isLoopback(host) ? ['127.0.0.1', '[::1]'] : [])]) settings.hosts.add(`${name.toLowerCase()}:${bound}`);
  return {
    loginUrl: `http://${host}:${bound}/?token=${token}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function handle(req: http.IncomingMessage, res: http.ServerResponse, settings: GuardSettings, options: PageServerOptions, api: (req: http.IncomingMessage, res: http.ServerResponse) => void): void {
  const url = new URL(req.url ?? '/', 'http://backupd');
  const method = req.method ?? 'GET';
  // The login link carries the token in the URL once: trade it for an HttpOnly cookie and drop it from the address bar.
  if (isLoginRequest(url.pathname, url.searchParams) && sameSecret(url.searchParams.get('token') ?? '', settings.token) && hostAllowed(req, settings)) {
    res.writeHead(303, { location: '/', 'set-cookie': `${TOKEN_COOKIE}=${settings.token}; HttpOnly; SameSite=Strict; Path=/`, ...PAGE_HEADERS });
    res.end();
    return;
  }
  const verdict = checkRequest({ method, path: url.pathname, headers: req.headers }, settings);
  if (!verdict.ok) return sendJson(res, verdict.status, { error: { code: 'EFORBIDDEN', message: verdict.reason } });
  if (url.pathname === '/healthz') {
    const report = options.api.status();
    const reasons = report.jobs.flatMap((job) => job.problems.map((problem) => `${job.name ?? job.source}: ${problem}`));
    return sendJson(res, reasons.length === 0 ? 200 : 503, { healthy: reasons.length === 0, reasons });
  }
  if (url.pathname === '/metrics' && method === 'GET') {
    const text = renderMetrics(options.api.status());
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' });
    res.end(text);
    return;
  }
  const asset = ASSETS[url.pathname];
  if (asset !== undefined && method === 'GET') {
    res.writeHead(200, { 'content-type': asset.type, ...PAGE_HEADERS });
    res.end(fs.readFileSync(path.join(WEB_FOLDER, asset.file)));
    return;
  }
  api(req, res);
}

function parseListen(listen: string): { host: string; port: number } {
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]]+):(\d{1,5})$/i.exec(listen);
  const port = Number(match?.[2]);
  if (match === null || port > 65535) throw new UsageError(`--http ${listen}: give host:port, e.g. 127.0.0.1:8470`);
  return { host: match[1] as string, port };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** 32 random bytes, base64url; created once, kept 0600 (writeFileAtomic writes 0600). */
function loadOrCreateToken(file: string): string {
  try {
    const token = fs.readFileSync(file, 'utf8').trim();
    if (token.length >= 32) return token;
  } catch {
    // none yet
  }
  const token = randomBytes(32).toString('base64url');
  writeFileAtomic(rawFromUser(file), `${token}\n`);
  return token;
}
