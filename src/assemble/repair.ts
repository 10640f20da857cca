/**
 * Repair after a wrong final sha256, for downloads without piece hashes: every block of the .part is
 * compared with the same block read again from another source; where they differ, more sources are
 * asked until two agree, the majority's bytes are written in place, and the sources outvoted are named.
 * A block where no two copies agree cannot be repaired, and is named too.
 *
 * Costs one more read of the file (from the sources that did not write each block); it only runs when
 * the file is known to be wrong, which aria2 and curl would answer by failing or starting over.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { fsPath, type RawPath } from '../common/raw-path.js';
import { askWhileBusy, type BlockSource } from './source.js';

/** Blocks compared at once: each needs a block in memory per vote. */
const CONCURRENCY = 4;
const CHUNK = 1 << 20;

export interface RepairInput {
  readonly part: RawPath;
  readonly size: number;
  readonly blockSize: number;
  /** By source index; undefined where a source was dropped and is not asked. */
  readonly sources: readonly (BlockSource | undefined)[];
  /** The source that wrote each block, -1 where unknown (before a resume). */
  readonly writers: Int16Array;
  readonly onNote: (note: string) => void;
}

export interface RepairedBlock {
  readonly block: number;
  readonly offset: number;
  /** Source indexes whose bytes lost the vote (the writer of the block among them, when known). */
  readonly outvoted: readonly number[];
  /** Labels of the sources whose bytes were kept. */
  readonly from: readonly string[];
}

export interface RepairResult {
  readonly repaired: readonly RepairedBlock[];
  /** Blocks where no two copies agreed. */
  readonly unresolved: readonly number[];
}

interface Vote {
  readonly data: Buffer;
  /** Source indexes. */
  readonly voters: number[];
}

export async function repairFile(input: RepairInput): Promise<RepairResult> {
  const blockCount = Math.ceil(input.size / input.blockSize);
  const repaired: RepairedBlock[] = [];
  const unresolved: number[] = [];
  const handle = await fs.promises.open(fsPath(input.part), fs.constants.O_RDWR | fs.constants.O_NOFOLLOW);
  try {
    let next = 0;
    const worker = async () => {
      for (let block = next++; block < blockCount; block = next++) {
        const outcome = await repairBlock(input, handle, block);
        if (outcome === 'unresolved') unresolved.push(block);
        else if (outcome !== 'agreed') repaired.push(outcome);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  } finally {
    await handle.close();
  }
  repaired.sort((a, b) => a.block - b.block);
  return { repaired, unresolved: unresolved.sort((a, b) => a - b) };
}

async function repairBlock(input: RepairInput, handle: fs.promises.FileHandle, block: number): Promise<RepairedBlock | 'agreed' | 'unresolved'> {
  const offset = block * input.blockSize;
  const length = Math.min(input.blockSize, input.size - offset);
  const current = Buffer.allocUnsafe(length);
  await handle.read(current, 0, length, offset);
  const writer = input.writers[block] ?? -1;
  // The .part's bytes are the vote of the source that wrote them. When that is not known (written before
  // a resume) they are no vote at all: they may be the very source asked next, which would agree with itself.
  const votes = new Map<string, Vote>([[digest(current), { data: current, voters: writer >= 0 ? [writer] : [] }]]);
  // The writer's own bytes are already a vote; ask the others, one at a time, until two copies agree.
  for (const index of otherSources(input, writer)) {
    const source = input.sources[index] as BlockSource;
    let data: Buffer;
    try {
      data = await askWhileBusy(() => source.read(offset, length));
    } catch {
      continue;
    }
    const key = digest(data);
    const vote = votes.get(key) ?? { data, voters: [] };
    vote.voters.push(index);
    votes.set(key, vote);
    if (agreed(votes) !== undefined) break;
  }
  const winner = agreed(votes);
  if (winner === undefined) {
    input.onNote(`block ${block} (byte ${offset}): no two sources agree on it; it cannot be repaired`);
    return 'unresolved';
  }
  const [key, vote] = winner;
  if (key === digest(current)) return 'agreed';
  await writeFully(handle, vote.data, offset);
  const outvoted = [...votes].filter(([other]) => other !== key).flatMap(([, v]) => v.voters);
  const from = vote.voters.map((i) => input.sources[i]?.label ?? '?');
  const losers = outvoted.map((i) => input.sources[i]?.label ?? '?');
  input.onNote(`block ${block} (byte ${offset}) repaired with the bytes of ${from.join(' and ')}${losers.length > 0 ? `; ${losers.join(' and ')} disagreed` : ''}`);
  return { block, offset, outvoted, from };
}

/** The digest most copies share, if at least two do. */
function agreed(votes: ReadonlyMap<string, Vote>): [string, Vote] | undefined {
  let best: [string, Vote] | undefined;
  for (const entry of votes) if (entry[1].voters.length >= 2 && (best === undefined || entry[1].voters.length > best[1].voters.length)) best = entry;
  return best;
}

/** Usable sources other than the block's writer, in the order given. */
function otherSources(input: RepairInput, writer: number): number[] {
  const others: number[] = [];
  input.sources.forEach((source, index) => {
    if (source !== undefined && index !== writer) others.push(index);
  });
  return others;
}

function digest(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function writeFully(handle: fs.promises.FileHandle, data: Buffer, position: number): Promise<void> {
  for (let written = 0; written < data.length; ) {
    const { bytesWritten } = await handle.write(data, written, data.length - written, position + written);
    written += bytesWritten;
  }
}

/** The sha256 of a whole file, read afresh. */
export async function sha256OfFile(file: RawPath, size: number): Promise<string> {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(CHUNK);
  const handle = await fs.promises.open(fsPath(file), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    for (let position = 0; position < size; ) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(CHUNK, size - position), position);
      if (bytesRead === 0) throw Object.assign(new Error('the .part ended early'), { code: 'ESHORTREAD' });
      hash.update(buffer.subarray(0, bytesRead));
      position += bytesRead;
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}
