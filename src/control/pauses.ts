/** Paused jobs, by source path, in `pauses.json` of the state folder: a pause outlives a restart. */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../common/atomic.js';
import { rawFromUser } from '../common/raw-path.js';

export class PauseStore {
  private readonly file: string;
  private readonly paused: Set<string>;

  constructor(folder: string) {
    this.file = path.join(folder, 'pauses.json');
    this.paused = new Set(readPaused(this.file));
  }

  has(source: string): boolean {
    return this.paused.has(source);
  }

  set(source: string, paused: boolean): void {
    if (paused === this.paused.has(source)) return;
    if (paused) this.paused.add(source);
    else this.paused.delete(source);
    writeFileAtomic(rawFromUser(this.file), `${JSON.stringify({ paused: [...this.paused] }, null, 2)}\n`);
  }
}

/** A missing or damaged file means nothing is paused: a pause is a wish, not data to protect. */
function readPaused(file: string): string[] {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as { paused?: unknown };
    return Array.isArray(parsed.paused) ? parsed.paused.filter((p): p is string => typeof p === 'string') : [];
  } catch {
    return [];
  }
}
