/**
 * Where the control plane keeps things: the socket (runtime folder) and the state (history, pauses,
 * downloads, the HTTP token). Plain functions of the environment, so tests point them at temp folders.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UsageError } from '../common/errors.js';

const SOCKET_NAME = 'control.sock';

/** $XDG_RUNTIME_DIR/backupd, else /run/backupd as root, else the state folder. */
export function defaultControlSocket(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? -1): string {
  if (env.XDG_RUNTIME_DIR) return path.join(env.XDG_RUNTIME_DIR, 'backupd', SOCKET_NAME);
  if (uid === 0) return path.join('/run/backupd', SOCKET_NAME);
  return path.join(stateFolder(env), SOCKET_NAME);
}

/** $XDG_STATE_HOME/backupd, else ~/.local/state/backupd. */
export function stateFolder(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state');
  return path.join(base, 'backupd');
}

/**
 * Creates `dir` (and missing parents) 0700 and checks that it is a folder of ours that nobody else can
 * enter: the socket and the token inside are only as private as the folder.
 */
export function ensurePrivateFolder(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = fs.lstatSync(dir);
  if (!stat.isDirectory()) throw new UsageError(`${dir} is not a folder`);
  const uid = process.getuid?.();
  if (uid !== undefined && stat.uid !== uid) throw new UsageError(`${dir} belongs to uid ${stat.uid}, not to this user`);
  if ((stat.mode & 0o077) !== 0) fs.chmodSync(dir, 0o700);
}
