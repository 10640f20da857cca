/**
 * `--metalink` and `--checksums` through the built CLI with local folder mirrors: hostile or wrong
 * descriptions are refused before anything is written (exit 2, one line naming the file and field), and a
 * good one drives the assembly.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tree.js';

const PIECE = 64 * 1024;
const DATA = Buffer.alloc(3 * PIECE + 1000, 0x33).fill(0x44, PIECE, 2 * PIECE);
const SHA256 = createHash('sha256').update(DATA).digest('hex');

function setup(): { root: string; mirrors: string[]; out: string } {
  const root = tempDir();
  const mirrors = ['m1', 'm2'].map((m) => path.join(root, m));
  for (const dir of mirrors) {
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'f.bin'), DATA);
  }
  const out = path.join(root, 'out');
  fs.mkdirSync(out);
  return { root, mirrors, out };
}

function meta4(root: string, file: string): string {
  const at = path.join(root, 'f.meta4');
  fs.writeFileSync(at, `<?xml version="1.0" encoding="UTF-8"?>\n<metalink xmlns="urn:ietf:params:xml:ns:metalink">\n${file}\n</metalink>\n`);
  return at;
}

/** Exit 2, one `backup:` line on stderr containing `message`, and nothing new anywhere under `root` but the inputs. */
async function refused(args: string[], root: string, message: string): Promise<void> {
  const before = fs.readdirSync(root, { recursive: true }).sort();
  const result = await runCli(args, { cwd: path.join(root, 'out') });
  expect(result.code).toBe(2);
  const lines = result.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain(message);
  expect(fs.readdirSync(root, { recursive: true }).sort()).toEqual(before);
}

describe('backup assemble --metalink / --checksums (local mirrors)', () => {
  it('refuses a Metalink whose name escapes the output folder, naming the file and the field', async () => {
    const { root, mirrors } = setup();
    const file = meta4(root, `<file name="../../f.bin"><size>${DATA.length}</size></file>`);
    await refused(['assemble', '--metalink', file, '--from', ...mirrors], root, `${file}: <file name> "../../f.bin" escapes the output folder`);
  });

  it('refuses a Metalink that declares entities (billion laughs)', async () => {
    const { root, mirrors } = setup();
    const file = path.join(root, 'bomb.meta4');
    fs.writeFileSync(file, '<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><metalink><file name="&b;"/></metalink>');
    await refused(['assemble', 'f.bin', '--metalink', file, '--from', ...mirrors], root, `${file}: cannot be read as a Metalink: it declares XML entities`);
  });

  it('refuses a checksum list without the name, or with two different hashes for it', async () => {
    const { root, mirrors } = setup();
    const sums = path.join(root, 'SHA256SUMS');
    fs.writeFileSync(sums, `${SHA256}  other.bin\n`);
    await refused(['assemble', 'f.bin', '--checksums', sums, '--from', ...mirrors], root, `${sums}: does not list "f.bin" (1 entries)`);
    fs.writeFileSync(sums, `${SHA256}  f.bin\n${'0'.repeat(64)} *f.bin\n`);
    await refused(['assemble', 'f.bin', '--checksums', sums, '--from', ...mirrors], root, `${sums}: lists "f.bin" with different hashes`);
  });

  it('assembles with the hash looked up in a BSD-format list, and with a Metalink\'s pieces and hash', async () => {
    const { root, mirrors, out } = setup();
    const sums = path.join(root, 'CHECKSUM');
    fs.writeFileSync(sums, `# f.bin: ${DATA.length} bytes\nSHA256 (f.bin) = ${SHA256.toUpperCase()}\n`);
    const listed = await runCli(['assemble', 'f.bin', '--checksums', sums, '--from', ...mirrors, '--json'], { cwd: out });
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject({ status: 'done', sha256: SHA256 });

    const pieces = [0, 1, 2, 3].map((i) => createHash('sha256').update(DATA.subarray(i * PIECE, (i + 1) * PIECE)).digest('hex'));
    const file = meta4(root, `<file name="f.bin"><size>${DATA.length}</size><hash type="sha-256">${SHA256}</hash><pieces length="${PIECE}" type="sha-256">${pieces.map((h) => `<hash>${h}</hash>`).join('')}</pieces></file>`);
    const described = await runCli(['assemble', '--metalink', file, '--from', ...mirrors, '-o', path.join(out, 'g.bin'), '--json'], { cwd: out });
    expect(described.code).toBe(0);
    expect(JSON.parse(described.stdout)).toMatchObject({ status: 'done', sha256: SHA256, blocks: 4 });
    expect(fs.readFileSync(path.join(out, 'g.bin')).equals(DATA)).toBe(true);
  });
});
