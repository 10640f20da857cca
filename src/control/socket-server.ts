/**
 * The control socket: an HTTP server on a unix socket only this user can open (folder 0700, socket
 * 0600). A socket left by a killed daemon is replaced; one that answers belongs to a running daemon,
 * and a second daemon must not start (two daemons would write the same dests).
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { UsageError } from '../common/errors.js';
import { NoDaemonError, request } from './client.js';
import { ensurePrivateFolder } from './paths.js';

export class AlreadyRunningError extends UsageError {
  constructor(socketPath: string, pid: unknown) {
    super(`already running, pid ${String(pid)} (control socket ${socketPath})`, 'EALREADY');
    this.name = 'AlreadyRunningError';
  }
}

export interface SocketServer {
  readonly path: string;
  readonly server: http.Server;
  close(): Promise<void>;
}

const PROBE_TIMEOUT_MS = 3000;

/**
 * `privateFolder`: the socket's folder is ours alone (the default location) and is made 0700; a folder
 * the user named (`--control /tmp/x.sock`) is only created when missing, never re-moded.
 */
export async function listenOnSocket(socketPath: string, handler: http.RequestListener, privateFolder: boolean): Promise<SocketServer> {
  const dir = path.dirname(socketPath);
  if (privateFolder) ensurePrivateFolder(dir);
  else fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  await clearStaleSocket(socketPath);
  const server = http.createServer(handler);
  try {
    await listen(server, socketPath);
  } catch (err) {
    // Another daemon bound the path between our check and our bind.
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    await clearStaleSocket(socketPath);
    await listen(server, socketPath);
  }
  fs.chmodSync(socketPath, 0o600);
  const ino = fs.statSync(socketPath).ino;
  return {
    path: socketPath,
    server,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      // A newer daemon may own the path by now (we were told to stop while it started): leave its socket.
      if (statOrUndefined(socketPath)?.ino === ino) fs.rmSync(socketPath, { force: true });
    },
  };
}

/** The bind happens under umask 0177, so there is no moment when the socket is more open than 0600. */
function listen(server: http.Server, socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const previous = process.umask(0o177);
    const onError = (err: Error): void => {
      server.off('listening', onListening);
      reject(err);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError).once('listening', onListening);
    try {
      server.listen(socketPath);
    } finally {
      process.umask(previous);
    }
  });
}

async function clearStaleSocket(socketPath: string): Promise<void> {
  const stat = statOrUndefined(socketPath, true);
  if (stat === undefined) return;
  if (!stat.isSocket()) throw new UsageError(`control socket ${socketPath} exists and is not a socket`);
  try {
    const info = await request(socketPath, 'GET', '/v1/info', undefined, PROBE_TIMEOUT_MS);
    throw new AlreadyRunningError(socketPath, (info.body as { pid?: unknown } | null)?.pid ?? 'unknown');
  } catch (err) {
    if (!(err instanceof NoDaemonError)) throw err;
    if (err.reason !== 'ECONNREFUSED') throw new UsageError(`control socket ${socketPath}: something answers that is not a backup daemon (${err.reason})`);
  }
  fs.rmSync(socketPath, { force: true });
}

function statOrUndefined(p: string, noFollow = false): fs.Stats | undefined {
  try {
    return noFollow ? fs.lstatSync(p) : fs.statSync(p);
  } catch {
    return undefined;
  }
}
