/**
 * The files of the previous snapshot by the identity of the source file each was copied from: a source
 * file with the same device, inode, size, mtime, mode (and owner, when owners are kept) is the same
 * content, wherever it is now, and is linked from the snapshot instead of copied (a moved folder).
 *
 * Kept compactly, because a backup holds it for the whole run: columns of numbers and the paths' bytes
 * in one buffer, about 70 bytes plus the path per file, sorted by source inode for lookup.
 */
import { Float64Column } from '../common/float64-column.js';
import type { RawPath } from '../common/raw-path.js';
import { sameMtime } from '../plan/compare.js';
import type { FileEntry, ReusableFiles } from '../plan/types.js';
import { forEachManifestEntry, readStats, type ManifestEntry } from './manifest.js';

export class ReusableIndex implements ReusableFiles {
  private readonly srcIno: Float64Column;
  private readonly srcDev: Float64Column;
  private readonly size: Float64Column;
  private readonly mtimeMs: Float64Column;
  private readonly mode: Float64Column;
  private readonly uid: Float64Column;
  private readonly gid: Float64Column;
  /** Where each path ends in `paths`. */
  private readonly pathEnd: Float64Column;
  private paths = Buffer.allocUnsafe(64 * 1024);
  private pathBytes = 0;
  /** Entry indices by source inode, made on the first lookup. */
  private order: Uint32Array | undefined;

  /** `files`: how many the snapshot holds, when known (the columns are made that size at once). */
  private constructor(
    private readonly keepOwner: boolean,
    files?: number,
  ) {
    const column = () => new Float64Column(files);
    this.srcIno = column();
    this.srcDev = column();
    this.size = column();
    this.mtimeMs = column();
    this.mode = column();
    this.uid = column();
    this.gid = column();
    this.pathEnd = column();
  }

  /** The previous snapshot's files, read from its manifest a chunk at a time; undefined without one. */
  static async load(root: RawPath, snapshot: string, keepOwner: boolean): Promise<ReusableIndex | undefined> {
    const index = new ReusableIndex(keepOwner, readStats(root, snapshot)?.files);
    return (await forEachManifestEntry(root, snapshot, (e) => index.add(e))) ? index : undefined;
  }

  static of(entries: Iterable<ManifestEntry>, keepOwner: boolean): ReusableIndex {
    const index = new ReusableIndex(keepOwner);
    for (const e of entries) index.add(e);
    return index;
  }

  private add(e: ManifestEntry): void {
    // Without a known source identity (changed since it was copied, or not a file) nothing can match it.
    if (e.kind !== 'file' || e.srcIno === 0) return;
    this.srcIno.push(e.srcIno);
    this.srcDev.push(e.srcDev);
    this.size.push(e.size);
    this.mtimeMs.push(e.mtimeMs);
    this.mode.push(e.mode);
    this.uid.push(e.uid);
    this.gid.push(e.gid);
    this.addPath(e.rel);
  }

  private addPath(rel: RawPath): void {
    if (this.pathBytes + rel.length > this.paths.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.paths.length * 2, this.pathBytes + rel.length));
      this.paths.copy(grown, 0, 0, this.pathBytes);
      this.paths = grown;
    }
    this.pathBytes += this.paths.write(rel, this.pathBytes, 'latin1');
    this.pathEnd.push(this.pathBytes);
  }

  find(source: FileEntry): RawPath | undefined {
    const order = (this.order ??= this.sortedBySourceInode());
    for (let k = this.firstAtOrAbove(order, source.ino); k < order.length; k++) {
      const i = order[k] as number;
      if (this.srcIno.at(i) !== source.ino) return undefined;
      if (this.matches(i, source)) return this.paths.toString('latin1', i === 0 ? 0 : this.pathEnd.at(i - 1), this.pathEnd.at(i));
    }
    return undefined;
  }

  private matches(i: number, source: FileEntry): boolean {
    if (this.srcDev.at(i) !== source.dev || this.size.at(i) !== source.size) return false;
    if (!sameMtime(this.mtimeMs.at(i), source.mtimeMs) || this.mode.at(i) !== source.mode) return false;
    return !this.keepOwner || (this.uid.at(i) === source.uid && this.gid.at(i) === source.gid);
  }

  private sortedBySourceInode(): Uint32Array {
    const inodes = this.srcIno.values();
    const order = new Uint32Array(inodes.length);
    for (let i = 0; i < order.length; i++) order[i] = i;
    return order.sort((x, y) => (inodes[x] as number) - (inodes[y] as number));
  }

  /** The first position in `order` whose source inode is not below `ino`. */
  private firstAtOrAbove(order: Uint32Array, ino: number): number {
    let low = 0;
    let high = order.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.srcIno.at(order[mid] as number) < ino) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}
