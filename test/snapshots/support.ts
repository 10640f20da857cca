/** Shorthands for snapshot tests: run `backup --snapshot --json`, list snapshots, compare trees. */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { backupJson, type JsonSummary } from '../helpers/backup.js';
import type { CliResult, RunOptions } from '../helpers/cli.js';

export interface SnapshotJson {
  readonly name: string;
  readonly files: number;
  readonly bytesNew: number;
  readonly linked: number;
  readonly copied: number;
  readonly linksRefused: number;
  readonly movedLinked: number;
  readonly movedLinksRefused: number;
}

export type SnapshotSummary = JsonSummary & { snapshot: SnapshotJson; result: CliResult };

/** `backup <src> <dest> --snapshot --json [...extra]`; checks the exit status. */
export async function snapshotRun(src: string, dest: string, extra: readonly string[] = [], expectedCode = 0, options: RunOptions = {}): Promise<SnapshotSummary> {
  return (await backupJson([src, dest, '--snapshot', ...extra], expectedCode, options)) as SnapshotSummary;
}

/** Complete snapshot folder names, oldest first (as listing sorts them: by name within a second). */
export function snapshotNames(dest: string): string[] {
  const folder = path.join(dest, 'snapshots');
  if (!fs.existsSync(folder)) return [];
  return fs
    .readdirSync(folder)
    .filter((n) => /^\d{4}-\d{2}-\d{2}T\d{6}Z(-\d+)?$/.test(n))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

export function snapshotPath(dest: string, name: string): string {
  return path.join(dest, 'snapshots', name);
}

export function inodeOf(file: string): number {
  return fs.lstatSync(file).ino;
}

/** Leftovers of interrupted runs in the snapshots folder: partial trees and temporaries. */
export function leftovers(dest: string): string[] {
  const folder = path.join(dest, 'snapshots');
  return fs.existsSync(folder) ? fs.readdirSync(folder).filter((n) => n.startsWith('.')) : [];
}

export function expectLatestIsNewest(dest: string): void {
  const names = snapshotNames(dest);
  expect(fs.readlinkSync(path.join(dest, 'snapshots', 'latest'))).toBe(names.at(-1));
}
