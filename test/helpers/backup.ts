/** Shorthands for end-to-end tests of `backup`: run it, read its --json summary, list a folder. */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import type { BackupSummary } from '../../src/progress/summary.js';
import { runCli, type CliResult, type RunOptions } from './cli.js';

export type JsonSummary = BackupSummary;

/** Runs `backup ... --json`, checks the exit status and returns the parsed summary. */
export async function backupJson(args: readonly string[], expectedCode = 0, options: RunOptions = {}): Promise<JsonSummary & { result: CliResult }> {
  const result = await runCli([...args, '--json'], options);
  expect(result.code, result.stderr).toBe(expectedCode);
  return { ...(JSON.parse(result.stdout) as JsonSummary), result };
}

/** Every path below `root`, sorted; '' when it does not exist. For "nothing was written" checks. */
export function listing(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  const found: string[] = [];
  // By hand with lstat: readdir's `recursive` follows symlinks to folders, and bad-input trees hold loops.
  const visit = (folder: string): void => {
    for (const entry of fs.readdirSync(folder, { withFileTypes: true })) {
      const full = path.join(folder, entry.name);
      found.push(full);
      if (entry.isDirectory()) visit(full);
    }
  };
  visit(root);
  return found.sort();
}
