import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { listing } from '../helpers/backup.js';
import { makeSnapshotDest } from '../helpers/snapshot-dest.js';
import { snapshot, tempDir, writeTree } from '../helpers/tree.js';

const OLD = '2026-12-01T020000Z';
const NEW = '2026-12-02T020000Z';
const T1 = new Date('2026-11-30T10:00:00.123Z');

interface RestoreJson {
  snapshot: string;
  files: number;
  bytes: number;
  keptAside: { path: string; keptAs: string }[];
  keptAsideIn: string | null;
  errors: unknown[];
}

async function restoreJson(args: string[], expectedCode = 0): Promise<RestoreJson> {
  const result = await runCli(['restore', ...args, '--json']);
  expect(result.code, result.stderr).toBe(expectedCode);
  return JSON.parse(result.stdout) as RestoreJson;
}

/** Two snapshots: OLD with a.txt v1, NEW with a.txt v2, a folder, a symlink and modes. */
function twoSnapshots(root: string): string {
  return makeSnapshotDest(path.join(root, 'dest'), {
    [OLD]: { 'a.txt': { content: 'version 1', mtime: T1 } },
    [NEW]: {
      'a.txt': { content: 'version 2', mtime: T1 },
      'docs/notes.md': { content: '# notes', mode: 0o640, mtime: T1 },
      'docs/run.sh': { content: '#!/bin/sh\n', mode: 0o755, mtime: T1 },
      'docs/link': { symlink: '../a.txt' },
      'empty': { dir: true, mode: 0o750 },
    },
  });
}

const raw = (...parts: (string | Buffer)[]) => Buffer.concat(parts.flatMap((p, i) => (i === 0 ? [Buffer.from(p)] : [Buffer.from('/'), Buffer.from(p)])));

describe('backup restore', () => {
  it('round trip: the restored tree equals the snapshot byte for byte, names that are not UTF-8, symlinks, modes, mtimes and owners included', async () => {
    const root = tempDir();
    const dest = twoSnapshots(root);
    const snap = path.join(dest, 'snapshots', NEW);
    const dirName = Buffer.from([0x64, 0xe9, 0x6a, 0xe0]);
    const fileName = Buffer.from([0x66, 0xff, 0xfe, 0x80, 0x2e, 0x62, 0x69, 0x6e]);
    fs.mkdirSync(raw(snap, dirName), { mode: 0o711 });
    fs.writeFileSync(raw(snap, dirName, fileName), Buffer.from([0, 1, 2, 0xff]));
    fs.symlinkSync(raw(dirName, fileName), raw(snap, Buffer.from([0x6c, 0xee])));
    fs.writeFileSync(path.join(snap, 'big.bin'), Buffer.alloc(3 << 20, 7)); // the kernel-copy path too
    fs.chownSync(path.join(snap, 'docs', 'notes.md'), 1234, 2345);
    execFileSync('setfattr', ['-n', 'user.note', '-v', 'kept', path.join(snap, 'docs', 'run.sh')]);
    for (const p of [raw(snap, dirName, fileName), raw(snap, dirName), path.join(snap, 'docs'), snap]) fs.utimesSync(p, T1, T1);

    const to = path.join(root, 'restored');
    const summary = await restoreJson([dest, '--to', to]);
    expect(summary).toMatchObject({ snapshot: NEW, files: 5, bytes: 9 + 7 + 10 + 4 + (3 << 20), keptAside: [], errors: [] });
    expect(snapshot(to, { rawNames: true })).toEqual(snapshot(snap, { rawNames: true }));
    expect(fs.statSync(path.join(to, 'docs', 'notes.md'))).toMatchObject({ uid: 1234, gid: 2345 });
    expect(execFileSync('getfattr', ['--only-values', '-n', 'user.note', path.join(to, 'docs', 'run.sh')], { encoding: 'utf8' })).toBe('kept');
    expect(fs.readdirSync(path.join(dest, 'snapshots'))).toContain(NEW); // read only, never moved
  });

  it('restores a named snapshot, and `latest` by default', async () => {
    const root = tempDir();
    const dest = twoSnapshots(root);
    await restoreJson([dest, OLD, '--to', path.join(root, 'old')]);
    expect(fs.readFileSync(path.join(root, 'old', 'a.txt'), 'utf8')).toBe('version 1');
    expect(fs.readdirSync(path.join(root, 'old'))).toEqual(['a.txt']);
    expect((await restoreJson([dest, 'latest', '--to', path.join(root, 'new')])).snapshot).toBe(NEW);
  });

  it('restores only the paths given, at the same place below --to; a first argument that is no snapshot name is a path', async () => {
    const root = tempDir();
    const dest = twoSnapshots(root);
    const to = path.join(root, 'r');
    const summary = await restoreJson([dest, 'docs/notes.md', './empty/', '--to', to]);
    expect(summary).toMatchObject({ snapshot: NEW, files: 1 });
    expect(listing(to)).toEqual([path.join(to, 'docs'), path.join(to, 'docs', 'notes.md'), path.join(to, 'empty')]);
    const snap = path.join(dest, 'snapshots', NEW);
    expect(snapshot(path.join(to, 'docs', 'notes.md'))).toEqual(snapshot(path.join(snap, 'docs', 'notes.md')));
    expect(fs.statSync(path.join(to, 'empty')).mode & 0o777).toBe(0o750);

    const sub = path.join(root, 'sub');
    await restoreJson([dest, NEW, 'docs', '--to', sub]);
    expect(snapshot(path.join(sub, 'docs'))).toEqual(snapshot(path.join(snap, 'docs')));
    expect(fs.readdirSync(sub)).toEqual(['docs']);
  });

  it('refuses a non-empty --to without --overwrite, writing nothing', async () => {
    const root = tempDir();
    const dest = twoSnapshots(root);
    const to = path.join(root, 'mine');
    writeTree(to, { 'a.txt': 'my own a', 'other.txt': 'mine' });
    const before = snapshot(to);
    const result = await runCli(['restore', dest, '--to', to]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`--to ${to} is not empty; add --overwrite`);
    expect(snapshot(to)).toEqual(before);
  });

  it('--overwrite loses nothing: every replaced entry is kept aside, other files are untouched, and a rerun keeps nothing aside again', async () => {
    const root = tempDir();
    const dest = twoSnapshots(root);
    const to = path.join(root, 'mine');
    writeTree(to, {
      'a.txt': { content: 'my own a', mode: 0o600 },
      'other.txt': 'not in the snapshot',
      'docs/notes.md': { symlink: '/etc/hostname' }, // a symlink where the snapshot has a file
      'docs/run.sh/inside.txt': 'a folder where the snapshot has a file',
      'empty': 'a file where the snapshot has a folder',
    });
    const mine = snapshot(to);
    const summary = await restoreJson([dest, '--to', to, '--overwrite']);
    const aside = summary.keptAsideIn as string;
    expect(path.dirname(aside)).toBe(to);
    expect(path.basename(aside)).toMatch(/^\.backupd-restore-\d{4}-\d\d-\d\dT\d{6}Z(-\d+)?$/);
    expect(summary.keptAside.map((k) => path.relative(to, k.path)).sort()).toEqual(['a.txt', 'docs/notes.md', 'docs/run.sh', 'empty']);
    for (const k of summary.keptAside) expect(k.keptAs).toBe(path.join(aside, path.relative(to, k.path)));
    // What the user had is in the aside folder exactly as it was (the same inodes: linked or moved).
    const kept = snapshot(aside);
    for (const rel of ['a.txt', 'docs/notes.md', 'docs/run.sh', 'docs/run.sh/inside.txt', 'empty']) expect(kept[rel], rel).toEqual(mine[rel]);
    expect(fs.readFileSync(path.join(to, 'other.txt'), 'utf8')).toBe('not in the snapshot');
    // And the snapshot's entries are in place.
    const snap = snapshot(path.join(dest, 'snapshots', NEW));
    const restored = snapshot(to);
    for (const rel of Object.keys(snap).filter((k) => k !== '.')) expect(restored[rel], rel).toEqual(snap[rel]);

    const again = await restoreJson([dest, '--to', to, '--overwrite']);
    expect(again).toMatchObject({ files: 0, keptAside: [], keptAsideIn: null });
    expect(fs.readdirSync(to).filter((n) => n.startsWith('.backupd-restore-'))).toEqual([path.basename(aside)]);
  });

  it('--dry-run lists what it would restore and keep aside, and writes nothing', async () => {
    const root = tempDir();
    const dest = twoSnapshots(root);
    const to = path.join(root, 'mine');
    writeTree(to, { 'a.txt': 'my own a' });
    const before = snapshot(to);
    const result = await runCli(['restore', dest, '--to', to, '--overwrite', '--dry-run']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('copy docs/notes.md\n');
    expect(result.stdout).toMatch(new RegExp(`keep aside ${to}/a.txt -> ${to}/\\.backupd-restore-[^/]+/a\\.txt\\n`));
    expect(snapshot(to)).toEqual(before);
  });

  it('never writes inside dest: --to inside it, or a --to around it that would touch it, is refused', async () => {
    const root = tempDir();
    const dest = twoSnapshots(root);
    for (const to of [dest, path.join(dest, 'current'), path.join(dest, 'snapshots', 'x')]) {
      const result = await runCli(['restore', dest, '--to', to]);
      expect(result.code, to).toBe(2);
      expect(result.stderr).toContain('is inside the snapshot dest');
    }
    // --to holds dest, and the snapshot has a path at dest's place.
    fs.mkdirSync(path.join(dest, 'snapshots', NEW, 'dest', 'current'), { recursive: true });
    fs.writeFileSync(path.join(dest, 'snapshots', NEW, 'dest', 'current', 'x'), 'x');
    const before = listing(dest);
    const around = await runCli(['restore', dest, '--to', root, '--overwrite']);
    expect(around.code).toBe(2);
    expect(around.stderr).toContain(`would write into the snapshot dest ${dest}`);
    expect(listing(dest)).toEqual(before);
    // Without such a path it is fine.
    expect((await restoreJson([dest, 'a.txt', '--to', root, '--overwrite'])).files).toBe(1);
  });

  it.each([
    { args: ['2026-12-09T000000Z'], message: 'snapshot 2026-12-09T000000Z: not in' },
    { args: ['nope.txt'], message: `nope.txt: not in snapshot ${NEW}` },
    { args: [OLD, 'docs'], message: `docs: not in snapshot ${OLD}` },
    { args: ['/etc/passwd'], message: '/etc/passwd: give paths relative to the backed-up root' },
    { args: ['docs/../../x'], message: 'docs/../../x: not a path inside the snapshot' },
  ])('bad snapshot or path $args: exit 2 naming it, nothing written', async ({ args, message }) => {
    const root = tempDir();
    const dest = twoSnapshots(root);
    const result = await runCli(['restore', dest, ...args, '--to', path.join(root, 'r')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(fs.existsSync(path.join(root, 'r'))).toBe(false);
  });

  it('a path through a symlink of the snapshot is not in it: exit 2, nothing written', async () => {
    const root = tempDir();
    const dest = twoSnapshots(root);
    fs.symlinkSync('docs', path.join(dest, 'snapshots', NEW, 'linked'));
    const result = await runCli(['restore', dest, 'linked/notes.md', '--to', path.join(root, 'r')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`linked/notes.md: not in snapshot ${NEW}`);
    expect(fs.existsSync(path.join(root, 'r'))).toBe(false);
  });

  it('needs --to, and a dest with snapshots', async () => {
    const root = tempDir();
    const dest = twoSnapshots(root);
    const noTo = await runCli(['restore', dest]);
    expect(noTo.code).toBe(2);
    expect(noTo.stderr).toContain("required option '--to <dir>' not specified");
    fs.mkdirSync(path.join(root, 'plain'));
    const none = await runCli(['restore', path.join(root, 'plain'), '--to', path.join(root, 'r')]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no snapshots');
  });

  it.skipIf(process.getuid?.() !== 0)(
    'a snapshot larger than a batch is restored a batch of folders at a time: what --overwrite replaces in any batch is kept aside in one folder, and an entry that cannot be kept aside (immutable) is named and left as it was with nothing below it written',
    async () => {
      const root = tempDir();
      const dest = makeSnapshotDest(path.join(root, 'dest'), { [NEW]: { '.backupignore': '*.log\n', 'keep.log': 'restored all the same' } });
      const snap = path.join(dest, 'snapshots', NEW);
      // 20 folders of 500 files: both trees' listings span several of the stream's batches (8,192 entries).
      for (let d = 0; d < 20; d++) {
        fs.mkdirSync(path.join(snap, `d${d}`));
        for (let f = 0; f < 500; f++) fs.writeFileSync(path.join(snap, `d${d}`, `f${f}`), `${d}/${f}`);
      }
      fs.mkdirSync(path.join(snap, 'd10', 'x'));
      fs.writeFileSync(path.join(snap, 'd10', 'x', 'below.txt'), 'below');
      const to = path.join(root, 'mine');
      expect((await restoreJson([dest, '--to', to])).files).toBe(20 * 500 + 3);
      expect(fs.readFileSync(path.join(to, 'keep.log'), 'utf8')).toBe('restored all the same');

      fs.writeFileSync(path.join(to, 'd0', 'f1'), 'mine, first folder');
      fs.writeFileSync(path.join(to, 'd19', 'f499'), 'mine, last folder');
      fs.rmSync(path.join(to, 'd10', 'x'), { recursive: true });
      fs.writeFileSync(path.join(to, 'd10', 'x'), 'a file where the snapshot has a folder');
      execFileSync('chattr', ['+i', path.join(to, 'd10', 'x')]);
      try {
        const summary = await restoreJson([dest, '--to', to, '--overwrite'], 1);
        const aside = summary.keptAsideIn as string;
        expect(summary.keptAside.map((k) => path.relative(aside, k.keptAs)).sort()).toEqual(['d0/f1', 'd19/f499']);
        expect(fs.readFileSync(path.join(aside, 'd0', 'f1'), 'utf8')).toBe('mine, first folder');
        expect(fs.readFileSync(path.join(aside, 'd19', 'f499'), 'utf8')).toBe('mine, last folder');
        expect(fs.readFileSync(path.join(to, 'd0', 'f1'), 'utf8')).toBe('0/1');
        expect(fs.readFileSync(path.join(to, 'd19', 'f499'), 'utf8')).toBe('19/499');
        expect(summary.errors).toEqual([expect.objectContaining({ path: path.join(to, 'd10', 'x'), message: expect.stringContaining('not restored: could not be kept aside') })]);
        expect(fs.readFileSync(path.join(to, 'd10', 'x'), 'utf8')).toBe('a file where the snapshot has a folder');
        expect(summary.files).toBe(2);
      } finally {
        execFileSync('chattr', ['-i', path.join(to, 'd10', 'x')]);
      }
    },
  );

  it('works on a dest made by hand in the same layout (no marker, no manifests)', async () => {
    const root = tempDir();
    const dest = makeSnapshotDest(path.join(root, 'byhand'), { [NEW]: { 'x/y.txt': 'y' } }, { marker: false, manifests: false });
    await restoreJson([dest, '--to', path.join(root, 'r')]);
    expect(fs.readFileSync(path.join(root, 'r', 'x', 'y.txt'), 'utf8')).toBe('y');
  });
});
