/**
 * `backup restore s3://bucket/prefix --to <dir>`: the store's listing is the source tree, --to's walk the
 * dest, the ordinary planner decides, as one plan (the listing is whole anyway), and backup/restore.ts
 * keeps aside what it replaces. Folders, symlinks and metadata are done by the local executor
 * (copy/execute.ts, with its pinned parents); only the file copies differ: each object is downloaded to a
 * temporary beside its final name, checked against the SHA-256 it was indexed with, given its mode, owner
 * and times, and renamed into place.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { planBetweenTrees } from '../../backup/backup.js';
import { previewWholeTree, syncWholeTree } from '../../backup/destination.js';
import { checkTarget, type RestoreSource, type RestoreTarget } from '../../backup/restore.js';
import { tempRelFor } from '../../common/atomic.js';
import { UsageError, errorData, type EntryFailure } from '../../common/errors.js';
import { baseName, displayPath, fsPath, joinRaw, parentRel, type RawPath } from '../../common/raw-path.js';
import { withPinnedParent } from '../../copy/confine.js';
import type { CopyPool } from '../../copy/pool.js';
import { executePlan, type ExecutionReport } from '../../copy/execute.js';
import { IgnoreRules } from '../../plan/ignore.js';
import type { ActionOf, Plan, Tree } from '../../plan/types.js';
import { walkTree } from '../../plan/walk.js';
import { treeWithin } from '../within.js';
import { NO_PROGRESS, type ProgressSink } from '../../progress/events.js';
import type { S3Store } from './s3-store.js';

export interface S3RestoreOptions {
  readonly keepOwner: boolean;
  readonly transfers: number;
}

/**
 * The store's listing (of `target.paths`, or all) planned into --to as any restore is: a non-empty --to
 * needs `overwrite`. Throws UsageError for a path the store lacks.
 */
export async function s3RestoreSource(store: S3Store, target: RestoreTarget, options: S3RestoreOptions): Promise<RestoreSource> {
  const listed = await store.list();
  for (const rel of target.paths) {
    if (!listed.entries.has(rel)) throw new UsageError(`${displayPath(rel)}: not in ${store.display}`, 'ENOPATH');
  }
  checkTarget(target.to, target.overwrite);
  const source = target.paths.length === 0 ? listed : treeWithin(listed, target.paths);
  // Only what the store has is looked at in --to, not the rest of the user's folder.
  const dest = walkTree(target.to, { only: target.paths.length > 0 ? target.paths : topLevel(source), collectTemps: true });
  const job = { source: store.display, dest: target.to, exclude: [], delete: false, compare: 'size-mtime', keepOwner: target.keepOwner, hardLinks: false, xattrs: false, oneFileSystem: false } as const;
  const planned = planBetweenTrees(job, source, dest, new IgnoreRules(), { replaceFolders: true });
  return {
    preview: (show) => Promise.resolve(previewWholeTree(planned, show)),
    sync: async (execution, hooks) => {
      const run = { ...options, pool: execution.pool, progress: execution.progress };
      const whole = { plan: () => Promise.resolve(planned), execute: ({ plan }: { plan: Plan }) => executeS3Plan(plan, target.to, store, run) };
      return (await syncWholeTree(whole, execution, hooks)).synced;
    },
  };
}

function topLevel(tree: Tree): RawPath[] {
  return [...tree.entries.keys()].filter((rel) => rel !== '' && !rel.includes('/'));
}

async function executeS3Plan(plan: Plan, to: RawPath, store: S3Store, options: S3RestoreOptions & { pool: CopyPool; progress?: ProgressSink }): Promise<ExecutionReport> {
  fs.mkdirSync(fsPath(to), { recursive: true, mode: 0o700 });
  const destRoot = fs.realpathSync(fsPath(to), { encoding: 'latin1' });
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
  // Through the pinned parent, as the local executor writes (copy/confine.ts): a folder of --to swapped
  // for a symlink meanwhile cannot lead the download elsewhere.
  return withPinnedParent(joinRaw(destRoot, action.rel), async (final) => {
    const temp = joinRaw(parentRel(final), baseName(tempRelFor(action.rel)));
    const fd = fs.openSync(fsPath(temp), fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
    let open = true;
    try {
      const written = await writeVerified(body, fd, record?.sha256, progress);
      const source = action.source;
      if (keepOwner) fs.fchownSync(fd, source.uid, source.gid);
      fs.fchmodSync(fd, source.mode & 0o7777);
      fs.futimesSync(fd, source.mtimeMs / 1000, source.mtimeMs / 1000);
      fs.closeSync(fd);
      open = false;
      fs.renameSync(fsPath(temp), fsPath(final));
      progress.advance(0, 1);
      return written;
    } catch (err) {
      if (open) fs.closeSync(fd);
      fs.rmSync(fsPath(temp), { force: true });
      throw err;
    }
  });
}

/** The body written to `fd` from offset 0; EVERIFY when its SHA-256 is not the indexed one. Its length. */
async function writeVerified(body: NodeJS.ReadableStream, fd: number, sha256: string | undefined, progress: ProgressSink): Promise<number> {
  const hash = createHash('sha256');
  let written = 0;
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
  const got = hash.digest('hex');
  if (sha256 !== undefined && sha256 !== got) {
    throw Object.assign(new Error(`downloaded content's SHA-256 ${got} is not the indexed ${sha256}`), { code: 'EVERIFY' });
  }
  return written;
}
