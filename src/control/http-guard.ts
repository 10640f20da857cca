/**
 * The checks in front of the HTTP page server, as one pure function: a request is let through only if
 * its Host is the listen address or localhost (DNS rebinding), it carries the token (bearer or cookie;
 * /healthz excepted), and, for a POST, it is JSON from this origin (no cross-site form posts). No CORS
 * headers are ever sent, so other sites' scripts cannot read answers either.
 */
import { timingSafeEqual } from 'node:crypto';

export const TOKEN_COOKIE = 'backupd_token';

export interface GuardRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

export type GuardVerdict = { readonly ok: true } | { readonly ok: false; readonly status: 400 | 401 | 403 | 415; readonly reason: string };

export interface GuardSettings {
  readonly token: string;
  /** Host header values accepted, lower case: "127.0.0.1:8470", "localhost:8470". */
  readonly hosts: ReadonlySet<string>;
}

const OPEN_PATHS = new Set(['/healthz']);

/** The Host header names this server (the listen address or localhost): a rebound DNS name does not. */
export function hostAllowed(request: Pick<GuardRequest, 'headers'>, settings: GuardSettings): boolean {
  const host = header(request, 'host')?.toLowerCase();
  return host !== undefined && settings.hosts.has(host);
}

export function checkRequest(request: GuardRequest, settings: GuardSettings): GuardVerdict {
  const host = header(request, 'host')?.toLowerCase();
  if (!hostAllowed(request, settings)) return { ok: false, status: 403, reason: `Host ${host ?? '(none)'} is not this server` };
  if (OPEN_PATHS.has(request.path)) return { ok: true };
  const bearer = /^Bearer (.+)$/i.exec(header(request, 'authorization') ?? '')?.[1];
  const cookie = cookieValue(header(request, 'cookie'), TOKEN_COOKIE);
  const byBearer = bearer !== undefined && sameSecret(bearer, settings.token);
  if (!byBearer && !(cookie !== undefined && sameSecret(cookie, settings.token))) {
    return { ok: false, status: 401, reason: 'missing or wrong token (use the link of `backup status --url`, or Authorization: Bearer)' };
  }
  if (request.method === 'GET' || request.method === 'HEAD') return { ok: true };
  const type = header(request, 'content-type')?.split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') return { ok: false, status: 415, reason: 'a POST must be application/json' };
  const origin = header(request, 'origin');
  // A browser always sends Origin on a POST; a script with a bearer token need not.
  if (origin === undefined ? !byBearer : origin.toLowerCase() !== `http://${host}`) {
    return { ok: false, status: 403, reason: `Origin ${origin ?? '(none)'} is not this server` };
  }
  return { ok: true };
}

/** `http://host:port/?token=...`: the link that sets the cookie. */
export function isLoginRequest(path: string, query: URLSearchParams): boolean {
  return path === '/' && query.has('token');
}

function header(request: Pick<GuardRequest, 'headers'>, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function cookieValue(cookies: string | undefined, name: string): string | undefined {
  for (const part of (cookies ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return rest.join('=');
  }
  return undefined;
}

export function sameSecret(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}
