/**
 * What the client commands (`status`, `ctl`, `log`, `assemble --background`) share: finding the socket,
 * asking, and turning a refused answer into a typed error with an exit status.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../common/errors.js';
import { loadConfig } from '../config/load.js';
import { errorOf, NoDaemonError, request, type ControlResponse } from '../control/client.js';
import type { JobSelector } from '../control/types.js';
import { controlSocketPath } from './watch-control.js';

export const EXIT_NO_DAEMON = 3;

export interface ClientOptions {
  readonly control?: string;
  readonly config?: string;
}

/** The daemon refused the request (unknown job, broken config): exit 2 with its message. */
export class RefusedError extends UsageError {
  constructor(message: string, code: string) {
    super(message, code);
    this.name = 'RefusedError';
  }
}

export async function socketFor(options: ClientOptions): Promise<string> {
  if (options.control !== undefined) return options.control;
  return controlSocketPath(undefined, await loadConfig(options.config)).path;
}

/** One request; a 4xx/5xx answer throws RefusedError, no daemon throws NoDaemonError. */
export async function ask(socket: string, method: 'GET' | 'POST', urlPath: string, body?: unknown): Promise<ControlResponse> {
  const response = await request(socket, method, urlPath, body);
  if (response.status >= 400) {
    const error = errorOf(response) ?? { code: 'EREFUSED', message: `the daemon answered ${response.status}` };
    throw new RefusedError(error.message, error.code);
  }
  return response;
}

/** "no daemon answers" on stderr, exit 3; anything else goes on up. */
export function noDaemon(err: unknown): number {
  if (!(err instanceof NoDaemonError)) throw err;
  process.stderr.write(`backup: ${err.message}; is \`backup watch\` running? (--control <path> names another socket)\n`);
  return EXIT_NO_DAEMON;
}

/**
 * A job as typed (a name, or a source path), and as the real absolute path it names here, if any: the
 * daemon knows sources by their real paths, and `docs` may be a name even where ./docs exists.
 */
export function jobArgument(job: string | undefined): JobSelector | undefined {
  if (job === undefined) return undefined;
  try {
    return { job, path: fs.realpathSync(path.resolve(job)) };
  } catch {
    return { job };
  }
}
