import { forEachInodeBlock, inodesFile } from '../../src/snapshots/inode-table.js';

/** A snapshot's whole (ino, size) table, streamed, or undefined without one. */
export function readInodes(root: string, name: string): Float64Array | undefined {
  const blocks: Float64Array[] = [];
  if (!forEachInodeBlock(inodesFile(root, name), (pairs) => blocks.push(pairs.slice()))) return undefined;
  return Float64Array.from(blocks.flatMap((block) => [...block]));
}
