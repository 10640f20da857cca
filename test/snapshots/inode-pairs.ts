import { forEachInodePair, inodesFile } from '../../src/snapshots/inode-table.js';

/** A snapshot's whole (ino, size) table, streamed, or undefined without one. */
export function readInodes(root: string, name: string): Float64Array | undefined {
  const pairs: number[] = [];
  return forEachInodePair(inodesFile(root, name), (ino, size) => pairs.push(ino, size)) ? Float64Array.from(pairs) : undefined;
}
