/**
 * `backup restore s3://bucket/prefix --to <dir>`: the store's listing is the source tree, --to's walk the
 * dest, the ordinary planner decides. Folders, symlinks and metadata are done by the local executor
 * (copy/execute.ts, with its pinned parents); only the file copies differ: each object is downloaded to a
 * temporary beside its final name, checked against the SHA-256 it was indexed with, given its mode, owner
 * and times, and renamed into place.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { tempRelFor } from '../../common/atomic.js';
import { errorData, type EntryFailure } from '../../common/errors.js';
import { displayPath, fsPath, joinRaw, type RawPath } from '../../common/raw-path.js';
import type { CopyPool } from '../../copy/pool.js';
import { executePlan, type ExecutionReport } from '../../copy/execute.js';
import { buildPlan } from '../../plan/plan.js';
import type { ActionOf, Plan, Tree } from '../../plan/types.js';
import { treeWithin } from '../within.js';
import { walkTree } from '../../plan/walk.js';
import { NO_PROGRESS, type ProgressSink } from '../../progress/events.js';
import type { S3Store } from './s3-store.js';

export interface S3RestoreOptions {
  readonly to: RawPath;
  /** Restore only these paths (and what lies below them); all when empty. */
  readonly paths: readonly RawPath[];
  readonly keepOwner: boolean;
  readonly transfers: number;
}

export async function planS3Restore(store: S3Store, options: S3RestoreOptions): Promise<Plan> {
  const listed = await store.list();
  const source = options.paths.length === 0 ? listed : treeWithin(listed, options.paths);
  const dest: Tree = fs.existsSync(fsPath(options.to)) ? walkTree(options.to, { collectTemps: true }) : { root: options.to, entries: new Map(), temps: [], failures: [] };
  return buildPlan(source, dest, { compare: 'size-mtime', delete: false, keepOwner: options.keepOwner, hardLinks: false, xattrs: false });
}

export async function executeS3Restore(plan: Plan, store: S3Store, options: S3RestoreOptions & { pool: CopyPool; progress?: ProgressSink }): Promise<ExecutionReport> {
  fs.mkdirSync(fsPath(options.to), { recursive: true, mode: 0o700 });
  const destRoot = fs.realpathSync(fsPath(options.to), { encoding: 'latin1' });
  const copies = plan.actions.filter((a): a is ActionOf<'copy'> => a.type === 'copy');
  const firstCopy = plan.actions.findIndex((a) => a.type === 'copy');
  const split = firstCopy === -1 ? plan.actions.length : firstCopy;
  const local = (actions: Plan['actions']): Promise<ExecutionReport> =>
    executePlan({ ...plan, actions }, { sourceRoot: store.display, destRoot, pool: options.pool, settings: { verify: false, keepOwner: options.keepOwner, xattrs: false } });
  const before = await local(plan.actions.slice(0, split));
  const downloads = await downloadAll(copies, store, destRoot, options);
  const after = await local(plan.actions.slice(split).filter((a) => a.type !== 'copy'));
  const failures = [...before.failures, ...downloads.failures, ...after.failures];
  return {
    ...after,
    filesCopied: downloads.copied,
    filesFailed: downloads.failures.length,
    bytesCopied: downloads.bytes,
    failures,
    warnings: [...before.warnings, ...after.warnings],
  };
}

async function downloadAll(copies: readonly ActionOf<'copy'>[], store: S3Store, destRoot: RawPath, options: S3RestoreOptions & { progress?: ProgressSink }) {
  const failures: EntryFailure[] = [];
  let copied = 0;
  let bytes = 0;
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < copies.length) {
      const action = copies[next++] as ActionOf<'copy'>;
      try {
        bytes += await downloadOne(action, store, destRoot, options.keepOwner, options.progress ?? NO_PROGRESS);
        copied++;
      } catch (err) {
        failures.push({ path: displayPath(joinRaw(destRoot, action.rel)), ...errorData(err) });
      }
    }
  };
  await Promise.all(Array.from({ length: options.transfers }, lane));
  return { failures, copied, bytes };
}

async function downloadOne(action: ActionOf<'copy'>, store: S3Store, destRoot: RawPath, keepOwner: boolean, progress: ProgressSink): Promise<number> {
  const { body, record } = await store.open(action.rel);
  const final = joinRaw(destRoot, action.rel);
  const temp = joinRaw(destRoot, tempRelFor(action.rel));
  const fd = fs.openSync(fsPath(temp), fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  const hash = createHash('sha256');
  let written = 0;
  try {
    await pipeline(
      body,
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          hash.update(chunk);
          fs.write(fd, chunk, 0, chunk.length, written, (err) => {
            written += chunk.length;
            progress.advance(chunk.length, 0);
            done(err);
          });
        },
      }),
    );
    const sha256 = hash.digest('hex');
    if (record?.sha256 !== undefined && record.sha256 !== sha256) {
      throw Object.assign(new Error(`downloaded content's SHA-256 ${sha256} is not the indexed ${record.sha256}`), { code: 'EVERIFY' });
    }
    const source = action.source;
    if (keepOwner) fs.fchownSync(fd, source.uid, source.gid);
    fs.fchmodSync(fd, source.mode & 0o7777);
    fs.futimesSync(fd, source.mtimeMs / 1000, source.mtimeMs / 1000);
    fs.closeSync(fd);
    fs.renameSync(fsPath(temp), fsPath(final));
    progress.advance(0, 1);
    return written;
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(fsPath(temp), { force: true });
    throw err;
  }
}
