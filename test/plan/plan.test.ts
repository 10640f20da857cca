import { describe, expect, it } from 'vitest';
import { buildPlan, type PlanOptions } from '../../src/plan/plan.js';
import type { Action, Entry, Plan } from '../../src/plan/types.js';
import { dir, file, link, special, tree } from './trees.js';

const SIZE_MTIME: PlanOptions = { compare: 'size-mtime', delete: false, keepOwner: false };
const T = 1_700_000_000_000;

function plan(source: readonly Entry[], dest: readonly Entry[] | undefined, options: Partial<PlanOptions> = {}, temps: string[] = []): Plan {
  return buildPlan(tree('/src', source), tree('/dst', dest ?? [], temps), { ...SIZE_MTIME, ...options });
}

/** Actions as short readable lines, so a whole plan compares with one toEqual. */
function lines(actions: readonly Action[]): string[] {
  return actions.map((a) => {
    switch (a.type) {
      case 'copy':
        return `copy ${a.rel} (${a.reason}${a.skipIfSameContent ? ', if content differs' : ''})`;
      case 'remove':
        return `remove ${a.kind} ${a.rel} (${a.reason})`;
      default:
        return `${a.type} ${a.rel}`;
    }
  });
}

/** The plan's actions without the folder metadata steps, which have their own tests. */
function work(p: Plan): string[] {
  return lines(p.actions.filter((a) => !(a.type === 'set-meta' && a.source.kind === 'dir') && !(a.type === 'set-xattrs' && a.kind === 'dir')));
}

describe('buildPlan for regular files', () => {
  it.each([
    { title: 'a file missing from dest is copied as new', dest: undefined, expected: ['copy f (new)'] },
    { title: 'a file with the same size and mtime is skipped', dest: file('f'), expected: [] },
    { title: 'a file whose size differs is copied', dest: file('f', { size: 99 }), expected: ['copy f (size)'] },
    { title: 'a file whose mtime differs by a millisecond is copied', dest: file('f', { mtimeMs: T + 1 }), expected: ['copy f (mtime)'] },
    { title: 'a file whose mtime differs by less than a millisecond is skipped', dest: file('f', { mtimeMs: T + 0.999 }), expected: [] },
    { title: 'a file older in dest by a sub-millisecond fraction is skipped', dest: file('f', { mtimeMs: T - 0.5 }), expected: [] },
    { title: 'a file whose dest is a symlink is copied over it', dest: link('f', 'elsewhere'), expected: ['copy f (type)'] },
    { title: 'a file whose dest is a FIFO is copied over it', dest: special('f'), expected: ['copy f (type)'] },
    { title: 'a current file whose mode differs only gets its metadata', dest: file('f', { mode: 0o600 }), expected: ['set-meta f'] },
  ])('$title', ({ dest, expected }) => {
    const p = plan([file('f', { mtimeMs: T })], dest === undefined ? [] : [dest]);
    expect(work(p)).toEqual(expected);
  });

  it.each([
    { title: 'with --checksum a file of equal size and mtime is copied only if its content differs', dest: file('f', { mtimeMs: T }), expected: ['copy f (checksum, if content differs)'] },
    { title: 'with --checksum a file of equal size but another mtime is compared by content', dest: file('f', { mtimeMs: T - 5000 }), expected: ['copy f (checksum, if content differs)'] },
    { title: 'with --checksum a file of another size is copied without reading dest', dest: file('f', { size: 1 }), expected: ['copy f (size)'] },
    { title: 'with --checksum a new file is copied', dest: undefined, expected: ['copy f (new)'] },
  ])('$title', ({ dest, expected }) => {
    const p = plan([file('f', { mtimeMs: T })], dest === undefined ? [] : [dest], { compare: 'checksum' });
    expect(work(p)).toEqual(expected);
  });

  it('counts regular files, skipped files and the bytes to copy', () => {
    const p = plan([file('a', { size: 10 }), file('b', { size: 20 }), file('c', { size: 30 }), link('l', 'a'), special('p')], [file('b', { size: 20 }), file('c', { size: 1 })]);
    expect({ total: p.filesTotal, skipped: p.filesSkipped, refused: p.filesRefused, bytes: p.bytesToCopy }).toEqual({ total: 3, skipped: 1, refused: 0, bytes: 40 });
  });

  it('compares owners only when asked to keep them', () => {
    const source = [file('f', { uid: 0 })];
    expect(work(plan(source, [file('f', { uid: 1 })], { keepOwner: false }))).toEqual([]);
    expect(work(plan(source, [file('f', { uid: 1 })], { keepOwner: true }))).toEqual(['set-meta f']);
  });
});

describe('buildPlan when an entry changed type', () => {
  it.each([
    { title: 'a file that became a symlink is replaced by the link (the rename replaces the file)', source: [link('a', 'target')], dest: [file('a')], del: false, expected: ['symlink a'] },
    { title: 'a symlink that became a file is replaced by the copy', source: [file('a')], dest: [link('a', 'target')], del: false, expected: ['copy a (type)'] },
    { title: 'a file that became a folder is removed before the folder is made', source: [dir('a'), file('a/x')], dest: [file('a')], del: false, expected: ['remove file a (type-changed)', 'mkdir a', 'copy a/x (new)'] },
    { title: 'a symlink that became a folder is removed, never written through', source: [dir('a'), file('a/x')], dest: [link('a', '/etc')], del: false, expected: ['remove symlink a (type-changed)', 'mkdir a', 'copy a/x (new)'] },
    { title: 'a folder that became a file is removed first with --delete', source: [file('a')], dest: [dir('a'), file('a/x')], del: true, expected: ['remove dir a (type-changed)', 'copy a (type)'] },
    { title: 'a folder that became a symlink is removed first with --delete', source: [link('a', 'b')], dest: [dir('a'), file('a/x')], del: true, expected: ['remove dir a (type-changed)', 'symlink a'] },
    { title: 'a retargeted symlink is replaced', source: [link('a', 'new')], dest: [link('a', 'old')], del: false, expected: ['symlink a'] },
    { title: 'a symlink with the same target is left alone', source: [link('a', 'same')], dest: [link('a', 'same')], del: false, expected: [] },
  ])('$title', ({ source, dest, del, expected }) => {
    const p = plan(source, dest, { delete: del });
    expect(work(p)).toEqual(expected);
    expect(p.failures).toEqual([]);
  });

  it.each([
    { title: 'a folder that became a file is refused without --delete and named as a failure', source: [file('a')], refusedFiles: 1 },
    { title: 'a folder that became a symlink is refused without --delete and named as a failure', source: [link('a', 'b')], refusedFiles: 0 },
  ])('$title', ({ source, refusedFiles }) => {
    const p = plan(source, [dir('a'), file('a/x')]);
    expect(work(p)).toEqual([]);
    expect(p.failures).toEqual([expect.objectContaining({ path: '/dst/a', code: 'EISDIR', message: expect.stringContaining('--delete') })]);
    expect(p.filesRefused).toBe(refusedFiles);
  });

  it('replaceFolders (restore) replaces a folder in the way of a file or symlink without deleting anything else', () => {
    const p = plan([file('a'), link('b', 'x')], [dir('a'), file('a/x'), dir('b'), file('extra')], { replaceFolders: true });
    expect(work(p)).toEqual(['remove dir a (type-changed)', 'remove dir b (type-changed)', 'copy a (type)', 'symlink b']);
    expect(p.failures).toEqual([]);
  });
});

describe('buildPlan for special entries and leftovers', () => {
  it.each(['fifo', 'socket', 'character device', 'block device'] as const)('a %s is skipped with a warning naming its source path', (type) => {
    const p = plan([special('s', type), file('f')], []);
    expect(work(p)).toEqual(['copy f (new)']);
    expect(p.warnings).toEqual([{ path: '/src/s', code: 'ESPECIAL', message: expect.stringContaining(type) }]);
  });

  it('leftover temporaries in dest are removed before anything else', () => {
    const p = plan([file('f')], [file('f')], {}, ['.f.0123abcd.backupd-tmp', 'd/.g.89abcdef.backupd-tmp']);
    expect(lines(p.actions).slice(0, 2)).toEqual(['remove-temp .f.0123abcd.backupd-tmp', 'remove-temp d/.g.89abcdef.backupd-tmp']);
    expect(p.actions.filter((a) => a.type === 'copy')).toEqual([]);
  });
});

describe('buildPlan with --delete', () => {
  const source = [file('keep'), dir('d'), file('d/keep')];
  const dest = [file('keep'), dir('d'), file('d/keep'), file('d/gone'), dir('old'), dir('old/deep'), file('old/deep/x'), file('old/y'), file('gone'), dir('cache'), file('cache/c'), file('d/x.tmp')];
  const isExcluded = (rel: string) => rel === 'cache' || rel.startsWith('cache/') || rel.endsWith('.tmp');

  it('removes only the topmost entries absent from the source, after all writes', () => {
    const p = plan(source, dest, { delete: true, isExcluded });
    expect(work(p)).toEqual(['remove file d/gone (deleted)', 'remove dir old (deleted)', 'remove file gone (deleted)']);
  });

  it('never removes entries the source excludes', () => {
    const p = plan(source, dest, { delete: true, isExcluded });
    expect(p.actions.map((a) => a.rel)).not.toContain('cache');
    expect(p.actions.map((a) => a.rel)).not.toContain('cache/c');
    expect(p.actions.map((a) => a.rel)).not.toContain('d/x.tmp');
  });

  it('removes nothing without --delete', () => {
    const p = plan(source, dest, { delete: false, isExcluded });
    expect(p.actions.filter((a) => a.type === 'remove')).toEqual([]);
  });

  it.each([
    { title: 'a folder that became a symlink', replacement: link('a', '/outside') },
    { title: 'a folder that became a file', replacement: file('a') },
  ])('does not delete the old contents of $title once more through the new entry', ({ replacement }) => {
    // The type change removes the whole folder; a later delete of a/x would go through the new link.
    const p = plan([replacement], [dir('a'), file('a/x'), dir('a/sub'), file('a/sub/y')], { delete: true });
    expect(p.actions.filter((a) => a.type === 'remove')).toEqual([{ type: 'remove', rel: 'a', kind: 'dir', reason: 'type-changed' }]);
  });
});

describe('buildPlan folder metadata', () => {
  const same = [dir(''), dir('a'), dir('a/b'), file('a/b/f'), dir('c'), file('c/g')];

  function folderMeta(p: Plan): string[] {
    return p.actions.filter((a) => a.type === 'set-meta' && a.source.kind === 'dir').map((a) => a.rel);
  }

  it.each([
    { title: 'nothing is touched when every folder is current', source: same, dest: same, expected: [] },
    { title: 'a new file touches only its own folder', source: [...same, file('a/b/new')], dest: same, expected: ['a/b'] },
    { title: 'a folder whose mode differs gets its metadata', source: same, dest: [dir(''), dir('a', { mode: 0o700 }), dir('a/b'), file('a/b/f'), dir('c'), file('c/g')], expected: ['a'] },
    { title: 'a folder whose mtime differs gets its metadata', source: same, dest: [dir(''), dir('a'), dir('a/b'), file('a/b/f'), dir('c', { mtimeMs: 5 }), file('c/g')], expected: ['c'] },
    { title: 'a new dest tree gets every folder, deepest first', source: same, dest: [], expected: ['c', 'a/b', 'a', ''] },
    { title: 'a new folder touches its parent too', source: [...same, dir('a/b/n')], dest: same, expected: ['a/b/n', 'a/b'] },
    { title: 'a deleted entry touches its folder', source: same, dest: [...same, file('c/old')], expected: ['c'] },
    { title: 'a removed temporary touches its folder', source: same, dest: same, temps: ['a/.f.00000000.backupd-tmp'], expected: ['a'] },
  ])('$title', ({ source, dest, temps, expected }) => {
    const p = plan(source, dest, { delete: true }, temps);
    expect(folderMeta(p)).toEqual(expected);
  });
});

describe('buildPlan phase order', () => {
  it('orders actions: temps, type-changed removals, mkdir, copy, symlink, file metadata, deletes, folder metadata', () => {
    const source = [dir('n'), file('n/f'), file('changed'), link('l', 't'), file('meta', { mode: 0o600 }), dir('was-file')];
    const dest = [file('changed', { size: 1 }), file('meta'), file('was-file'), file('gone')];
    const p = plan(source, dest, { delete: true }, ['.x.0123abcd.backupd-tmp']);
    expect(lines(p.actions)).toEqual([
      'remove-temp .x.0123abcd.backupd-tmp',
      'remove file was-file (type-changed)',
      'mkdir n',
      'mkdir was-file',
      'copy n/f (new)',
      'copy changed (size)',
      'symlink l',
      'set-meta meta',
      'remove file gone (deleted)',
      'set-meta was-file',
      'set-meta n',
      'set-meta ',
    ]);
  });
});

describe('buildPlan with --delete and a source scan that failed', () => {
  it('deletes nothing when part of the source could not be read, and says so', () => {
    const source = { ...tree('/src', [dir('closed')]), failures: [{ path: '/src/closed', code: 'EACCES', message: 'permission denied' }] };
    const p = buildPlan(source, tree('/dst', [dir('closed'), file('closed/kept'), file('gone')]), { ...SIZE_MTIME, delete: true });
    expect(work(p)).toEqual([]);
    expect(p.warnings).toEqual([expect.objectContaining({ path: '/dst', code: 'EINCOMPLETE', message: expect.stringContaining('deletes skipped') })]);
  });
});

describe('buildPlan for a snapshot dest (inodes shared with snapshots)', () => {
  const protect: Partial<PlanOptions> = { protectLinkedInodes: true };

  it.each([
    { title: 'a linked file whose mode alone differs is copied anew, never chmod-ed in place', dest: file('f', { mode: 0o600, nlink: 3 }), options: protect, expected: ['copy f (meta)'] },
    { title: 'a linked file whose mtime alone differs (same size) is copied as for any mtime change', dest: file('f', { mtimeMs: T - 9000, nlink: 2 }), options: protect, expected: ['copy f (mtime)'] },
    { title: 'a linked file whose owner alone differs is copied anew when owners are kept', dest: file('f', { uid: 7, nlink: 2 }), options: { ...protect, keepOwner: true }, expected: ['copy f (meta)'] },
    { title: 'a linked file that is current is left alone', dest: file('f', { nlink: 5 }), options: protect, expected: [] },
    { title: 'a file with one link gets its metadata in place', dest: file('f', { mode: 0o600, nlink: 1 }), options: protect, expected: ['set-meta f'] },
    { title: 'without the option a linked file gets its metadata in place', dest: file('f', { mode: 0o600, nlink: 3 }), options: {}, expected: ['set-meta f'] },
    { title: 'with --checksum a linked file whose metadata differs is copied without the content check', dest: file('f', { mode: 0o600, nlink: 2 }), options: { ...protect, compare: 'checksum' as const }, expected: ['copy f (meta)'] },
    { title: 'with --checksum a linked file whose metadata is the same is still compared by content', dest: file('f', { nlink: 2 }), options: { ...protect, compare: 'checksum' as const }, expected: ['copy f (checksum, if content differs)'] },
  ])('$title', ({ dest, options, expected }) => {
    expect(work(plan([file('f', { mtimeMs: T })], [dest], options))).toEqual(expected);
  });

  it('a linked file whose extended attributes may differ is copied anew, never given them in place', () => {
    expect(work(plan([file('f', { ctimeMs: T + 60_000 })], [file('f', { nlink: 2 })], { ...protect, xattrs: true }))).toEqual(['copy f (meta)']);
    expect(work(plan([file('f', { ctimeMs: T + 60_000 })], [file('f', { nlink: 1 })], { ...protect, xattrs: true }))).toEqual(['set-xattrs f']);
  });

  it('folders get their metadata in place: each snapshot has folders of its own', () => {
    const p = plan([dir('d', { mode: 0o700 })], [dir('d', { mode: 0o755 })], protect);
    expect(lines(p.actions)).toEqual(['set-meta d']);
  });
});

describe('buildPlan with reusable files (a folder moved in the source)', () => {
  const reusable = { find: (e: { ino: number }) => (e.ino === 42 ? 'old/place' : undefined) };

  it('links a file dest holds elsewhere instead of copying it, before the copies, and counts it apart', () => {
    const p = plan([dir('new'), file('new/place', { ino: 42, size: 500 }), file('new/other', { ino: 43, size: 7 })], [], { reusable });
    expect(work(p)).toEqual(['mkdir new', 'reuse new/place', 'copy new/other (new)']);
    expect(p.actions.find((a) => a.type === 'reuse')).toMatchObject({ fromRel: 'old/place' });
    expect({ reused: p.filesReused, skipped: p.filesSkipped, bytes: p.bytesToCopy }).toEqual({ reused: 1, skipped: 0, bytes: 7 });
  });

  it('never reuses for a content check (--checksum), nor for a file that is current', () => {
    expect(work(plan([file('f', { ino: 42 })], [file('f', { nlink: 2 })], { reusable, compare: 'checksum' }))).toEqual(['copy f (checksum, if content differs)']);
    expect(work(plan([file('f', { ino: 42 })], [file('f')], { reusable }))).toEqual([]);
  });
});

describe('buildPlan with extended attributes', () => {
  const XATTRS = { xattrs: true };
  const LATER = T + 60_000;

  it('compares the attributes of a current file only when its source ctime is not older than dest', () => {
    expect(work(plan([file('f', { ctimeMs: LATER })], [file('f')], XATTRS))).toEqual(['set-xattrs f']);
    expect(work(plan([file('f', { ctimeMs: T })], [file('f', { ctimeMs: T })], XATTRS))).toEqual(['set-xattrs f']);
    expect(work(plan([file('f')], [file('f', { ctimeMs: LATER })], XATTRS))).toEqual([]);
    expect(work(plan([file('f', { ctimeMs: LATER })], [file('f')]))).toEqual([]);
  });

  it('updates attributes after mode and owner (chown clears a capability, chmod rewrites an ACL mask)', () => {
    const p = plan([file('f', { mode: 0o600, ctimeMs: LATER })], [file('f')], XATTRS);
    expect(work(p)).toEqual(['set-meta f', 'set-xattrs f']);
  });

  it('leaves a copied file to the copy, which sets its attributes on the temporary', () => {
    expect(work(plan([file('f', { ctimeMs: LATER })], [file('f', { size: 1 })], XATTRS))).toEqual(['copy f (size)']);
  });

  it('gives a new folder its attributes after its own metadata, after its contents', () => {
    const p = plan([dir('d'), file('d/f')], [], { xattrs: true });
    expect(lines(p.actions)).toEqual(['mkdir d', 'copy d/f (new)', 'set-meta d', 'set-xattrs d', 'set-meta ', 'set-xattrs ']);
  });

  it('skips folders whose dest ctime is newer', () => {
    const dest = [dir('', { ctimeMs: LATER }), dir('d', { ctimeMs: LATER })];
    expect(lines(plan([dir('d')], dest, XATTRS).actions)).toEqual([]);
  });
});
