/**
 * Snapshot dests built directly in the documented layout (marker, snapshots/<name>/, latest, manifests),
 * so restore and prune are tested on any tree of that layout, independent of the engine that takes them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeTree, type TreeSpec } from './tree.js';

export interface SnapshotDestOptions {
  /** Write `.backupd/format` (default true). */
  readonly marker?: boolean;
  /** Write `.backupd/manifests/<name>.json` for every snapshot (default true). */
  readonly manifests?: boolean;
}

/** `<root>/snapshots/<name>/` per entry of `snapshots` (names in the layout's form); returns root. */
export function makeSnapshotDest(root: string, snapshots: Record<string, TreeSpec>, options: SnapshotDestOptions = {}): string {
  const meta = path.join(root, '.backupd');
  fs.mkdirSync(path.join(root, 'snapshots'), { recursive: true });
  fs.mkdirSync(path.join(root, 'current'), { recursive: true });
  if (options.marker ?? true) {
    fs.mkdirSync(meta, { recursive: true });
    fs.writeFileSync(path.join(meta, 'format'), JSON.stringify({ format: 1 }));
  }
  for (const [name, spec] of Object.entries(snapshots)) {
    const folder = path.join(root, 'snapshots', name);
    fs.mkdirSync(folder, { recursive: true });
    writeTree(folder, spec);
    if (options.manifests ?? true) {
      fs.mkdirSync(path.join(meta, 'manifests'), { recursive: true });
      fs.writeFileSync(path.join(meta, 'manifests', `${name}.json`), '[]');
    }
  }
  const newest = Object.keys(snapshots).sort().at(-1);
  if (newest !== undefined) fs.symlinkSync(newest, path.join(root, 'snapshots', 'latest'));
  return root;
}

/** Names in `<root>/snapshots/` (hidden ones included), sorted. */
export function snapshotFolderNames(root: string): string[] {
  return fs.readdirSync(path.join(root, 'snapshots')).sort();
}
