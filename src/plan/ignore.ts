/**
 * Exclusion rules: --exclude patterns and .backupignore files, with gitignore semantics (the `ignore`
 * package does the matching).
 *
 * Patterns given on the command line or in the config behave exactly like lines of a .backupignore at the
 * source's root, placed after that file's own lines. A .backupignore in a folder applies below it, and a
 * deeper file's rules win over a shallower one's, as in git. Paths are raw (byte-string) paths, so the
 * patterns are converted to the same form.
 */
import { createRequire } from 'node:module';
import type createIgnore from 'ignore';
import type { Ignore } from 'ignore';
import { rawFromUser, type RawPath } from '../common/raw-path.js';

// Required on first use: a tree without patterns or .backupignore files never loads the matcher.
const require = createRequire(import.meta.url);

export const IGNORE_FILE = '.backupignore';

export class IgnoreRules {
  private readonly byFolder = new Map<RawPath, Ignore>();

  constructor(private readonly rootPatterns: readonly string[] = []) {
    if (rootPatterns.length > 0) this.matcherFor('').add(rootPatterns.map(rawFromUser));
  }

  /**
   * Sets the contents of `<folderRel>/.backupignore` (read as raw bytes), replacing what an earlier read
   * of the same file gave: the watch daemon re-walks folders, and must not pile up copies of the rules.
   */
  addIgnoreFile(folderRel: RawPath, rawContent: string): void {
    this.byFolder.delete(folderRel);
    const matcher = this.matcherFor(folderRel);
    matcher.add(rawContent);
    // The command-line patterns come after the root file's lines, so they win over it.
    if (folderRel === '' && this.rootPatterns.length > 0) matcher.add(this.rootPatterns.map(rawFromUser));
  }

  /** True when `rel` is excluded by the folder rules that apply to it, deepest first. */
  isExcluded(rel: RawPath, isDir: boolean): boolean {
    if (this.byFolder.size === 0) return false;
    let folder = rel;
    while (folder !== '') {
      const slash = folder.lastIndexOf('/');
      folder = slash === -1 ? '' : folder.slice(0, slash);
      const matcher = this.byFolder.get(folder);
      if (matcher === undefined) continue;
      const relative = folder === '' ? rel : rel.slice(folder.length + 1);
      const result = matcher.test(isDir ? `${relative}/` : relative);
      if (result.ignored) return true;
      if (result.unignored) return false;
    }
    return false;
  }

  private matcherFor(folderRel: RawPath): Ignore {
    let matcher = this.byFolder.get(folderRel);
    if (matcher === undefined) {
      // Linux names are case-sensitive; `ignore` defaults to case-insensitive like git on macOS.
      const ignore = require('ignore') as typeof createIgnore;
      matcher = ignore({ ignorecase: false, allowRelativePaths: false });
      this.byFolder.set(folderRel, matcher);
    }
    return matcher;
  }
}
