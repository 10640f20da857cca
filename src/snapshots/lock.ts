/**
 * One writer per snapshot dest: `.backupd/lock` holds `{"pid","host","since"}` of the process writing it.
 *
 * A second run does not wait: it exits 2 naming the holder, so that a cron job that overlaps the previous
 * one fails loudly instead of piling up. A lock whose process is gone (same host, no such pid) is taken
 * over. The lock file appears complete or not at all: it is written under a temporary name and linked
 * into place, and link() refuses an existing name.
 *
 * Taking over a dead holder's lock is a read, a check and a remove: two runs that both found it dead
 * could otherwise both remove it, the second removing the lock the first had just made, and both go on.
 * So every acquire runs under an exclusive lock on `.backupd/lock.guard` (on Linux an open-file-
 * description lock, fcntl F_OFD_SETLKW, through fs-native-extensions): the kernel drops it when its
 * descriptor is closed or its process dies, so the guard itself is never stale, and it is held only for
 * the few syscalls of the acquire.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { tempRelFor } from '../common/atomic.js';
import { errnoCode, UsageError } from '../common/errors.js';
import { pausePoint } from '../common/pause-point.js';
import { displayPath, fsPath, joinRaw, type RawPath } from '../common/raw-path.js';
import { snapshotDest } from './layout.js';

export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  /** ISO 8601 UTC. */
  readonly since: string;
}

export class DestLockedError extends UsageError {
  constructor(
    readonly lockPath: string,
    readonly holder: LockHolder | undefined,
  ) {
    const who = holder === undefined ? 'another run (unreadable lock)' : `pid ${holder.pid} on ${holder.host} since ${holder.since}`;
    super(`${lockPath}: the snapshot dest is in use by ${who}; try again when it has finished`, 'ELOCKED');
    this.name = 'DestLockedError';
  }
}

export class DestLock {
  private released = false;

  private constructor(readonly path: RawPath) {}

  /** Takes the dest's lock, or throws DestLockedError naming the live holder. */
  static acquire(root: RawPath): DestLock {
    const { lock, meta } = snapshotDest(root);
    const taken = underGuard(joinRaw(meta, 'lock.guard'), () => {
      const me: LockHolder = { pid: process.pid, host: os.hostname(), since: new Date().toISOString() };
      let tookOver = false;
      for (let tries = 1; ; tries++) {
        if (tryCreate(lock, me)) return new DestLock(lock);
        const holder = readHolder(lock);
        // Its holder finished between our create and our read (release takes no guard): the lock is free.
        if (holder === RELEASED && tries < MAX_TRIES) continue;
        const known = holder === RELEASED ? undefined : holder;
        // One takeover only: once more after removing the lock of a process that is gone.
        if (tookOver || known === undefined || isAlive(known)) throw new DestLockedError(displayPath(lock), known);
        pausePoint('lock-takeover');
        fs.rmSync(fsPath(lock), { force: true });
        tookOver = true;
      }
    });
    pausePoint('lock-taken');
    return taken;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    fs.rmSync(fsPath(this.path), { force: true });
  }
}

interface RecordLocks {
  tryLock(fd: number): boolean;
  waitForLockSync(fd: number): void;
}

const require = createRequire(import.meta.url);

/** Runs `use` holding an exclusive lock on `guard` (created if missing, never removed). */
function underGuard<T>(guard: RawPath, use: () => T): T {
  const locks = require('fs-native-extensions') as RecordLocks;
  const fd = fs.openSync(fsPath(guard), fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  try {
    if (!locks.tryLock(fd)) {
      pausePoint('lock-guard-wait');
      locks.waitForLockSync(fd);
    }
    return use();
  } finally {
    // Closing the descriptor releases the lock.
    fs.closeSync(fd);
  }
}

function tryCreate(lock: RawPath, me: LockHolder): boolean {
  const temp = tempRelFor(lock);
  fs.writeFileSync(fsPath(temp), `${JSON.stringify(me)}\n`, { flag: 'wx', mode: 0o644 });
  try {
    fs.linkSync(fsPath(temp), fsPath(lock));
    return true;
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') return false;
    throw err;
  } finally {
    fs.rmSync(fsPath(temp), { force: true });
  }
}

const RELEASED = Symbol('released');
const MAX_TRIES = 10;

function readHolder(lock: RawPath): LockHolder | typeof RELEASED | undefined {
  let text: string;
  try {
    text = fs.readFileSync(fsPath(lock), 'utf8');
  } catch (err) {
    return errnoCode(err) === 'ENOENT' ? RELEASED : undefined;
  }
  try {
    const parsed = JSON.parse(text) as Partial<LockHolder>;
    if (typeof parsed.pid !== 'number' || typeof parsed.host !== 'string' || typeof parsed.since !== 'string') return undefined;
    return { pid: parsed.pid, host: parsed.host, since: parsed.since };
  } catch {
    return undefined;
  }
}

/** A process on another host cannot be checked: it counts as alive. */
function isAlive(holder: LockHolder): boolean {
  if (holder.host !== os.hostname()) return true;
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) !== 'ESRCH';
  }
}
