/** The control API over HTTP: request → route() → JSON answer; `/v1/events` streams. Shared by the socket and the page server. */
import type http from 'node:http';
import type { EventStream } from './event-stream.js';
import { route, type ControlApi } from './routes.js';

const MAX_BODY_BYTES = 1024 * 1024;

export type RequestHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export function apiHandler(api: ControlApi, stream: EventStream): RequestHandler {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://backupd');
    if (url.pathname === '/v1/events' && req.method === 'GET') {
      stream.serve(req, res);
      return;
    }
    void readJson(req)
      .then((body) => route(api, { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, body }))
      .then(
        (answer) => sendJson(res, answer.status, answer.body),
        (err: unknown) => sendJson(res, err instanceof BadBody ? 400 : 500, { error: { code: err instanceof BadBody ? 'EBADREQUEST' : 'EINTERNAL', message: (err as Error).message } }),
      );
  };
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

class BadBody extends Error {}

function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new BadBody(`request body over ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', reject);
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text === '') return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new BadBody('request body is not JSON'));
      }
    });
  });
}
