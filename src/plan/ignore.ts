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

/**
 * `ignore` caches the result of every path it was asked about, for good: over a tree of millions of
 * entries that cache would grow with the tree. The matchers are made again from their patterns after
 * this many questions (a fresh cache; the patterns are parsed again in well under a millisecond).
 */
const TESTS_PER_CACHE = 65_536;

export class IgnoreRules {
  private readonly byFolder = new Map<RawPath, Ignore>();
  /** Each folder's patterns as they were added, to make its matcher again. */
  private readonly patterns = new Map<RawPath, (string | string[])[]>();
  private tests = 0;

  constructor(private readonly rootPatterns: readonly string[] = []) {
    if (rootPatterns.length > 0) this.add('', rootPatterns.map(rawFromUser));
  }

  /**
   * Sets the contents of `<folderRel>/.backupignore` (read as raw bytes), replacing what an earlier read
   * of the same file gave: the watch daemon re-walks folders, and must not pile up copies of the rules.
   */
  addIgnoreFile(folderRel: RawPath, rawContent: string): void {
    this.byFolder.delete(folderRel);
    this.patterns.delete(folderRel);
    this.add(folderRel, rawContent);
    // The command-line patterns come after the root file's lines, so they win over it.
    if (folderRel === '' && this.rootPatterns.length > 0) this.add('', this.rootPatterns.map(rawFromUser));
  }

  private add(folderRel: RawPath, patterns: string | string[]): void {
    this.matcherFor(folderRel).add(patterns);
    const added = this.patterns.get(folderRel) ?? [];
    added.push(patterns);
    this.patterns.set(folderRel, added);
  }

  /** True when `rel` is excluded by the folder rules that apply to it, deepest first. */
  isExcluded(rel: RawPath, isDir: boolean): boolean {
    if (this.byFolder.size === 0) return false;
    if (++this.tests > TESTS_PER_CACHE) this.renewMatchers();
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

  private renewMatchers(): void {
    this.tests = 0;
    this.byFolder.clear();
    for (const [folder, added] of this.patterns) {
      const matcher = this.matcherFor(folder);
      for (const patterns of added) matcher.add(patterns);
    }
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
