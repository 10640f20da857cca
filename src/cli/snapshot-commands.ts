/**
 * `backup snapshots`, `backup versions` and `backup diff`: read-only questions about a snapshot dest.
 * Bad input (not a snapshot dest, no such snapshot) is a UsageError: exit 2.
 */
import path from 'node:path';
import { UsageError } from '../common/errors.js';
import { displayPath, rawFromUser, type RawPath } from '../common/raw-path.js';
import { expandHome } from '../config/load.js';
import { formatBytes } from '../progress/bar.js';
import { diffSnapshots } from '../snapshots/diff.js';
import { fileVersions, requireSnapshot, snapshotInfos } from '../snapshots/history.js';
import { requireSnapshotDest } from '../snapshots/prune.js';
import { listSnapshots, type SnapshotRef } from '../snapshots/layout.js';
import { printJson, reportWarning } from './output.js';

interface JsonOption {
  readonly json: boolean;
}

function destRoot(destArg: string): RawPath {
  const root = rawFromUser(path.resolve(expandHome(destArg)));
  requireSnapshotDest(root);
  return root;
}

export function snapshotsCommand(destArg: string, options: JsonOption): number {
  const infos = snapshotInfos(destRoot(destArg));
  if (options.json) {
    printJson(infos);
    return 0;
  }
  for (const s of infos) {
    const when = s.time.replace('T', ' ').replace('.000Z', 'Z');
    const line = `${s.name}  ${when}  ${String(s.files).padStart(8)} files  ${formatBytes(s.bytes).padStart(10)}  ${formatBytes(s.uniqueBytes).padStart(10)} unique`;
    process.stdout.write(`${line}${s.failed ? '  (run had failures)' : ''}\n`);
  }
  return 0;
}

export function versionsCommand(destArg: string, fileArg: string, options: JsonOption): number {
  const root = destRoot(destArg);
  const rel = relativePath(fileArg);
  const versions = fileVersions(root, rel);
  if (versions.length === 0) throw new UsageError(`no version of ${displayPath(rel)} in ${displayPath(root)}`, 'ENOVERSION');
  if (options.json) {
    printJson(versions);
    return 0;
  }
  for (const v of versions) process.stdout.write(`${v.time}  ${formatBytes(v.size).padStart(10)}  mtime ${v.mtime}  ${v.path}\n`);
  return 0;
}

export async function diffCommand(destArg: string, aArg: string | undefined, bArg: string | undefined, options: JsonOption): Promise<number> {
  const root = destRoot(destArg);
  const [a, b] = pickPair(root, aArg, bArg);
  const diff = await diffSnapshots(root, a, b, reportWarning);
  if (options.json) {
    printJson({ from: a.name, to: b.name, ...diff });
    return 0;
  }
  for (const [mark, paths] of [['+', diff.added], ['-', diff.removed], ['~', diff.changed]] as const) {
    for (const p of paths) process.stdout.write(`${mark} ${p}\n`);
  }
  return 0;
}

/** The two snapshots to compare: given both, given one (against the newest), or the two newest. */
function pickPair(root: RawPath, aArg: string | undefined, bArg: string | undefined): [SnapshotRef, SnapshotRef] {
  if (aArg !== undefined) return [requireSnapshot(root, aArg), requireSnapshot(root, bArg ?? 'latest')];
  const all = listSnapshots(root);
  if (all.length < 2) throw new UsageError(`${displayPath(root)} has ${all.length} snapshot(s); diff needs two (or name them)`, 'ENOSNAPSHOT');
  return [all.at(-2) as SnapshotRef, all.at(-1) as SnapshotRef];
}

/** A path relative to the backed-up root, as typed: `docs/a.txt`, `./docs/a.txt` or `/docs/a.txt`. */
function relativePath(fileArg: string): RawPath {
  const clean = path.posix.normalize(fileArg).replace(/^(\.\/|\/)+/, '').replace(/\/$/, '');
  if (clean === '' || clean === '.' || clean.startsWith('../')) throw new UsageError(`${fileArg}: give a file path relative to the backed-up folder, e.g. docs/report.txt`);
  return rawFromUser(clean);
}
