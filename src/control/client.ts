/**
 * The client side of the control socket: one HTTP request over the unix socket, JSON in and out. Used
 * by `backup status`, `ctl`, `log`, `assemble --background`, and by a starting daemon to see whether
 * another one already answers on its socket.
 */
import http from 'node:http';

export interface ControlResponse {
  readonly status: number;
  readonly body: unknown;
}

/** Nothing answers on the socket: no file, a stale socket, or a process that does not speak our API. */
export class NoDaemonError extends Error {
  readonly code = 'ENODAEMON';
  constructor(
    readonly socketPath: string,
    readonly reason: string,
  ) {
    super(`no backup daemon answers on ${socketPath} (${reason})`);
    this.name = 'NoDaemonError';
  }
}

const DEFAULT_TIMEOUT_MS = 30_000;

export function request(socketPath: string, method: 'GET' | 'POST', urlPath: string, body?: unknown, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<ControlResponse> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath,
        method,
        path: urlPath,
        headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        timeout: timeoutMs,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: text === '' ? null : JSON.parse(text) });
          } catch {
            reject(new NoDaemonError(socketPath, 'the answer is not JSON'));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new NoDaemonError(socketPath, `no answer within ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => reject(err instanceof NoDaemonError ? err : new NoDaemonError(socketPath, err.code ?? err.message)));
    req.end(payload);
  });
}

/** The message of an error answer (`{"error": {code, message}}`), for the client's one-line error. */
export function errorOf(response: ControlResponse): { code: string; message: string } | undefined {
  const error = (response.body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (error === undefined) return undefined;
  return { code: String(error.code ?? 'EUNKNOWN'), message: String(error.message ?? 'failed') };
}
