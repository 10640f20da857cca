import { describe, expect, it } from 'vitest';
import { rawFromUser } from '../../src/common/raw-path.js';
import { IgnoreRules } from '../../src/plan/ignore.js';

interface Case {
  readonly title: string;
  readonly cli?: string[];
  readonly files: Record<string, string>;
  readonly path: string;
  readonly dir?: boolean;
  readonly excluded: boolean;
}

function rules(cli: readonly string[], files: Record<string, string>): IgnoreRules {
  const result = new IgnoreRules(cli);
  // The walk reads shallower folders first; do the same.
  for (const folder of Object.keys(files).sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b))) {
    result.addIgnoreFile(folder, files[folder] as string);
  }
  return result;
}

describe('IgnoreRules (gitignore semantics)', () => {
  it.each<Case>([
    { title: 'a glob matches at the root', files: { '': '*.tmp\n' }, path: 'a.tmp', excluded: true },
    { title: 'a glob matches at any depth', files: { '': '*.tmp\n' }, path: 'x/y/a.tmp', excluded: true },
    { title: 'a glob does not match other names', files: { '': '*.tmp\n' }, path: 'x/a.tmp.txt', excluded: false },
    { title: 'a bare name matches a file at any depth', files: { '': 'cache\n' }, path: 'a/b/cache', excluded: true },
    { title: 'a bare name matches a folder at any depth', files: { '': 'cache\n' }, path: 'a/cache', dir: true, excluded: true },
    { title: 'a bare name covers what is inside the folder', files: { '': 'cache\n' }, path: 'a/cache/x', excluded: true },
    { title: 'a leading slash anchors to the file\'s folder', files: { '': '/build\n' }, path: 'build', dir: true, excluded: true },
    { title: 'an anchored pattern does not match deeper', files: { '': '/build\n' }, path: 'src/build', dir: true, excluded: false },
    { title: 'an anchored pattern in a nested file anchors to that folder', files: { sub: '/out\n' }, path: 'sub/out', dir: true, excluded: true },
    { title: 'an anchored pattern in a nested file does not match at the root', files: { sub: '/out\n' }, path: 'out', dir: true, excluded: false },
    { title: 'a trailing slash matches folders', files: { '': 'logs/\n' }, path: 'a/logs', dir: true, excluded: true },
    { title: 'a trailing slash does not match files', files: { '': 'logs/\n' }, path: 'a/logs', dir: false, excluded: false },
    { title: 'a negation re-includes a file', files: { '': '*.log\n!keep.log\n' }, path: 'd/keep.log', excluded: false },
    { title: 'a negation leaves the other matches excluded', files: { '': '*.log\n!keep.log\n' }, path: 'd/other.log', excluded: true },
    { title: 'a comment line is not a pattern', files: { '': '# secret\n' }, path: '# secret', excluded: false },
    { title: 'an escaped hash is a pattern', files: { '': '\\#notes\n' }, path: '#notes', excluded: true },
    { title: 'blank lines are ignored', files: { '': '\n\n' }, path: 'x', excluded: false },
    { title: 'a nested file applies below its folder', files: { sub: '*.bak\n' }, path: 'sub/deep/x.bak', excluded: true },
    { title: 'a nested file does not apply beside its folder', files: { sub: '*.bak\n' }, path: 'other/x.bak', excluded: false },
    { title: 'a deeper negation wins over a root rule', files: { '': '*.log\n', sub: '!important.log\n' }, path: 'sub/important.log', excluded: false },
    { title: 'a deeper rule wins over a root negation', files: { '': '!*.keep\n', sub: 'x.keep\n' }, path: 'sub/x.keep', excluded: true },
    { title: 'the root rule still applies where the deeper file says nothing', files: { '': '*.log\n', sub: '!important.log\n' }, path: 'sub/other.log', excluded: true },
    { title: 'names are case-sensitive', files: { '': '*.tmp\n' }, path: 'A.TMP', excluded: false },
    { title: 'a command-line pattern works without any file', cli: ['*.tmp'], files: {}, path: 'a/b.tmp', excluded: true },
    { title: 'a command-line bare name matches at any depth', cli: ['cache'], files: {}, path: 'x/cache', dir: true, excluded: true },
    { title: 'a command-line pattern comes after the root file lines and wins over its negation', cli: ['*.log'], files: { '': '!keep.log\n' }, path: 'keep.log', excluded: true },
    { title: 'a command-line negation comes after the root file lines and wins over them', cli: ['!keep.log'], files: { '': '*.log\n' }, path: 'keep.log', excluded: false },
    { title: 'a command-line anchored pattern anchors at the source root', cli: ['/top'], files: { sub: '' }, path: 'sub/top', excluded: false },
    { title: 'a pattern with non-ASCII characters matches the raw name', cli: ['café*'], files: {}, path: rawFromUser('dir/café.txt'), excluded: true },
  ])('$title', ({ cli, files, path, dir, excluded }) => {
    expect(rules(cli ?? [], files).isExcluded(path, dir ?? false)).toBe(excluded);
  });

  it('excludes nothing when there are no rules', () => {
    expect(new IgnoreRules().isExcluded('anything', false)).toBe(false);
  });
});

describe('IgnoreRules over a large tree', () => {
  it('gives the same answers after its matchers were made again for a fresh cache', () => {
    const rules = new IgnoreRules(['*.log']);
    rules.addIgnoreFile('', 'build/\n');
    rules.addIgnoreFile('docs', '!keep.log\n');
    const answers = () => [rules.isExcluded('a.log', false), rules.isExcluded('build', true), rules.isExcluded('docs/keep.log', false), rules.isExcluded('docs/x.log', false), rules.isExcluded('a.txt', false)];
    const before = answers();
    for (let i = 0; i < 200_000; i++) rules.isExcluded(`d${i % 977}/f${i}.txt`, false);
    expect(before).toEqual([true, true, false, true, false]);
    expect(answers()).toEqual(before);
  });
});
