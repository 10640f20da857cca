/** The gateway of the s3 project, a fresh bucket per test, the CLI with the gateway's credentials. */
import http from 'node:http';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { inject } from 'vitest';
import { runCli, type CliResult, type RunOptions } from '../helpers/cli.js';

export const rgw = inject('rgw');

let buckets = 0;

export function s3Env(endpoint = rgw?.endpoint ?? ''): NodeJS.ProcessEnv {
  return { AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: rgw?.accessKey, AWS_SECRET_ACCESS_KEY: rgw?.secretKey, AWS_REGION: 'us-east-1', AWS_PROFILE: undefined };
}

let shared: S3Client | undefined;

/** The test process's own client (destroy it in afterAll: its keep-alive sockets hold the worker open). */
export function client(): S3Client {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  return (shared ??= new S3Client({ endpoint: rgw?.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: rgw?.accessKey ?? '', secretAccessKey: rgw?.secretKey ?? '' } }));
}

export function closeClient(): void {
  shared?.destroy();
  shared = undefined;
}

export async function freshBucket(): Promise<string> {
  const name = `backupd-${process.pid}-${++buckets}`;
  await client().send(new CreateBucketCommand({ Bucket: name }));
  return name;
}

export function runS3(args: readonly string[], options: RunOptions & { endpoint?: string } = {}): Promise<CliResult> {
  return runCli(args, { ...options, env: { ...s3Env(options.endpoint), ...options.env } });
}

/**
 * What the proxy does to one request instead of forwarding it at once: the store is busy (503 SlowDown),
 * the connection drops, the store is slow (forwarded after SLOW_MS), or a byte of the body is flipped on
 * the way (headers and length unchanged, as a faulty link or middlebox would).
 */
export type ProxyFault = 'slow-down' | 'reset' | 'slow' | 'corrupt' | 'stall';

const SLOW_MS = 250;

/** Which requests fail: called for each with its kind (`PUT object`) and its path (`/bucket/key`). */
export type FaultRule = (request: { readonly kind: string; readonly path: string }) => ProxyFault | undefined;

/**
 * A real forwarding proxy in front of the gateway that counts requests by method (HEAD per object?) and,
 * with `fault`, answers some of them as an overloaded store does instead (503 SlowDown, or a reset).
 */
/** A PUT as the proxy saw it: whether it carried Content-MD5, and the SigV4 payload hash it was signed with. */
export interface SeenPut {
  readonly path: string;
  readonly md5: boolean;
  readonly payloadHash: string;
}

export async function countingProxy(fault?: FaultRule): Promise<{ url: string; counts: Map<string, number>; puts: SeenPut[]; close(): Promise<void> }> {
  const target = new URL(rgw?.endpoint ?? '');
  const counts = new Map<string, number>();
  const puts: SeenPut[] = [];
  // Its own agent, destroyed at close: idle keep-alive sockets to the gateway would hold the test worker open.
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer((req, res) => {
    const [pathPart = '', query = ''] = (req.url ?? '').split('?');
    const onObject = pathPart.split('/').filter((p) => p !== '').length > 1;
    const kind = `${req.method} ${query.includes('list-type=2') ? 'list' : query.includes('uploads') ? 'uploads' : onObject ? 'object' : 'bucket'}`;
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
    if (req.method === 'PUT') puts.push({ path: decodeURIComponent(pathPart), md5: req.headers['content-md5'] !== undefined, payloadHash: String(req.headers['x-amz-content-sha256']) });
    const injected = fault?.({ kind, path: decodeURIComponent(pathPart) });
    if (injected === 'slow') {
      req.pause();
      setTimeout(() => forward(req, res), SLOW_MS);
    } else if (injected === 'corrupt') {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const middle = body.length >> 1;
        if (body.length > 0) body[middle] = (body[middle] ?? 0) ^ 0xff;
        forward(req, res, body);
      });
    } else if (injected !== undefined) answerWithFault(req, res, injected);
    else forward(req, res);
  });
  const forward = (req: http.IncomingMessage, res: http.ServerResponse, body?: Buffer): void => {
    const upstream = http.request({ agent, host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    if (body === undefined) req.pipe(upstream);
    else upstream.end(body);
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
      agent.destroy();
    });
  return { url: `http://127.0.0.1:${port}`, counts, puts, close };
}

/** The body is read first, so the client sees the fault only after it has sent the whole request, as from a busy store. */
function answerWithFault(req: http.IncomingMessage, res: http.ServerResponse, fault: Exclude<ProxyFault, 'slow' | 'corrupt'>): void {
  req.resume();
  req.on('end', () => {
    if (fault === 'reset') {
      req.socket.destroy();
      return;
    }
    // A store that took the request and went silent (the connection stays open until the proxy closes).
    if (fault === 'stall') return;
    const body = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>';
    res.writeHead(503, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
}
