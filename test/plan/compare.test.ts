import { describe, expect, it } from 'vitest';
import { copyReason, metaDiffers, sameMtime } from '../../src/plan/compare.js';
import { dir, file, link, special } from './trees.js';

const T = 1_700_000_000_123.456;

describe('sameMtime', () => {
  it.each([
    { a: T, b: T, same: true },
    { a: T, b: T + 0.5, same: true },
    { a: T, b: T - 0.999, same: true },
    { a: T, b: T + 1, same: false },
    { a: T, b: T - 1000, same: false },
    { a: 0, b: 0.0001, same: true },
  ])('treats $a and $b as the same mtime: $same', ({ a, b, same }) => {
    expect(sameMtime(a, b)).toBe(same);
  });
});

describe('copyReason', () => {
  const source = file('f', { size: 10, mtimeMs: T });
  it.each([
    { title: 'no dest copy', dest: undefined, mode: 'size-mtime', reason: 'new' },
    { title: 'a folder in dest', dest: dir('f'), mode: 'size-mtime', reason: 'type' },
    { title: 'a symlink in dest', dest: link('f', 'x'), mode: 'size-mtime', reason: 'type' },
    { title: 'a socket in dest', dest: special('f', 'socket'), mode: 'checksum', reason: 'type' },
    { title: 'another size', dest: file('f', { size: 11, mtimeMs: T }), mode: 'size-mtime', reason: 'size' },
    { title: 'another size with --checksum', dest: file('f', { size: 9, mtimeMs: T }), mode: 'checksum', reason: 'size' },
    { title: 'another mtime', dest: file('f', { size: 10, mtimeMs: T + 2 }), mode: 'size-mtime', reason: 'mtime' },
    { title: 'the same size and mtime', dest: file('f', { size: 10, mtimeMs: T + 0.4 }), mode: 'size-mtime', reason: undefined },
    { title: 'the same size and mtime with --checksum', dest: file('f', { size: 10, mtimeMs: T }), mode: 'checksum', reason: 'checksum' },
  ] as const)('gives $reason for $title', ({ dest, mode, reason }) => {
    expect(copyReason(source, dest, mode)).toBe(reason);
  });
});

describe('metaDiffers', () => {
  const meta = { mode: 0o644, mtimeMs: T, atimeMs: 0, ctimeMs: T, uid: 1, gid: 1 };
  it.each([
    { title: 'identical metadata', other: {}, keepOwner: true, differs: false },
    { title: 'an atime only', other: { atimeMs: 99 }, keepOwner: true, differs: false },
    { title: 'a sub-millisecond mtime difference', other: { mtimeMs: T + 0.9 }, keepOwner: true, differs: false },
    { title: 'a mode', other: { mode: 0o600 }, keepOwner: false, differs: true },
    { title: 'an mtime', other: { mtimeMs: T + 1 }, keepOwner: false, differs: true },
    { title: 'an owner when owners are kept', other: { uid: 2 }, keepOwner: true, differs: true },
    { title: 'a group when owners are kept', other: { gid: 2 }, keepOwner: true, differs: true },
    { title: 'an owner when owners are not kept', other: { uid: 2, gid: 2 }, keepOwner: false, differs: false },
  ])('reports $differs for $title', ({ other, keepOwner, differs }) => {
    expect(metaDiffers(meta, { ...meta, ...other }, keepOwner)).toBe(differs);
  });
});
