/**
 * Loop-mounted ext4 images: the bench's source data lives in one, and every timed run writes into a
 * freshly made one. A fresh filesystem per run matters: creating thousands of files soon after deleting
 * thousands makes ext4's inode allocator crawl, so `rm -rf dest` between runs would time the allocator.
 *
 * Needs root (losetup, mkfs.ext4, mount). Only loop devices attached to our own image files are ever
 * detached.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

/**
 * mkfs options, measured on this machine (4 GiB image, 3 runs each):
 *   defaults                                   16-190 ms, then a kernel thread zeroes inode tables in the
 *                                              background (ext4lazyinit), i.e. during the timed run;
 *   -E lazy_itable_init=0,lazy_journal_init=0  10-400 ms, nothing left to do in the background.
 * The default discard punches the previous run's data out of the backing file, so it does not grow.
 */
const MKFS_ARGS = ['-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0'];

function run(cmd, args) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** A sparse image file of `bytes` (rounded up to MiB); an existing file is replaced. */
export function createImage(file, bytes) {
  fs.rmSync(file, { force: true });
  const fd = fs.openSync(file, 'w');
  fs.ftruncateSync(fd, Math.ceil(bytes / 2 ** 20) * 2 ** 20);
  fs.closeSync(fd);
}

/** Attaches `file` to a free loop device. Direct I/O keeps a second copy of the data out of the page cache. */
export function attach(file, { directIo = false } = {}) {
  if (directIo) {
    try {
      return run('losetup', ['-f', '--show', '--direct-io=on', file]);
    } catch {
      // Backing filesystems without O_DIRECT (tmpfs on older kernels): fall back to buffered.
    }
  }
  return run('losetup', ['-f', '--show', file]);
}

export function detach(device) {
  run('losetup', ['-d', device]);
}

/** Loop devices attached to `file` (left behind by an interrupted bench). */
export function devicesOf(file) {
  if (!fs.existsSync(file)) return [];
  const out = run('losetup', ['-j', file]);
  return out === '' ? [] : out.split('\n').map((line) => line.slice(0, line.indexOf(':')));
}

/** `extraArgs`: e.g. `['-i', '4096']` for more inodes (a million small files). */
export function mkfs(device, extraArgs = []) {
  run('mkfs.ext4', [...MKFS_ARGS, ...extraArgs, device]);
}

export function mount(device, dir, { readOnly = false } = {}) {
  fs.mkdirSync(dir, { recursive: true });
  run('mount', ['-o', readOnly ? 'ro,noatime' : 'rw,noatime', device, dir]);
}

export function isMounted(dir) {
  try {
    run('findmnt', ['-n', '--mountpoint', dir]);
    return true;
  } catch {
    return false;
  }
}

export function umount(dir) {
  if (isMounted(dir)) run('umount', [dir]);
}

/** Unmounts `dir` and detaches every loop device still attached to `file`. */
export function release(dir, file) {
  umount(dir);
  for (const device of devicesOf(file)) detach(device);
}

/** Flushes one filesystem only (syncfs), so other processes' dirty data is not waited for. */
export function syncfs(dir) {
  run('sync', ['-f', dir]);
}

/**
 * A filesystem made anew on demand: `fresh()` unmounts, runs mkfs and mounts again. Used as the dest of
 * every timed run.
 */
export class FreshFs {
  constructor(file, bytes, mountpoint) {
    this.file = file;
    this.mountpoint = mountpoint;
    release(mountpoint, file);
    createImage(file, bytes);
    this.device = attach(file);
  }

  fresh() {
    umount(this.mountpoint);
    mkfs(this.device);
    mount(this.device, this.mountpoint);
    return this.mountpoint;
  }

  dispose() {
    umount(this.mountpoint);
    detach(this.device);
    fs.rmSync(this.file, { force: true });
  }
}
