/** A listed tree cut down to some subtrees, as walkTree({only}) walks a folder: the subtrees and the folders above them. */
import { isAtOrBelow, type RawPath } from '../common/raw-path.js';
import type { Entry, Tree } from '../plan/types.js';

export function treeWithin(tree: Tree, paths: readonly RawPath[]): Tree {
  const keep = (rel: RawPath): boolean => rel === '' || paths.some((p) => isAtOrBelow(rel, p) || p.startsWith(`${rel}/`));
  return { ...tree, entries: new Map<RawPath, Entry>([...tree.entries].filter(([rel]) => keep(rel))) };
}
