import { describe, expect, it } from 'vitest';
import { BlockTable, type ClaimPolicy, type ClaimResult } from '../../src/assemble/block-table.js';

function blockOf(claim: ClaimResult): number {
  if (claim.kind !== 'block') throw new Error(`expected a block, got ${claim.kind}`);
  return claim.block;
}

/** A small deterministic random sequence, so "concurrent" schedules differ per seed but repeat per run. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

const FRESH: ClaimPolicy = { fresh: true };

/**
 * A slot's loop over `table`: claim with `policy`, wait when told to, and settle each block with `settle`
 * after a random number of turns, so that the other workers' claims interleave with it.
 */
function claimingWorker(
  table: BlockTable,
  next: () => number,
  policy: (source: number) => ClaimPolicy,
  settle: (source: number, block: number) => Promise<unknown>,
): (source: number) => Promise<void> {
  return async (source) => {
    for (;;) {
      const claim = await table.claim(source, policy(source));
      if (claim.kind === 'none') return;
      if (claim.kind === 'wait') {
        await claim.changed;
        continue;
      }
      for (let i = Math.floor(next() * 4); i > 0; i--) await Promise.resolve();
      await settle(source, claim.block);
    }
  };
}

describe('BlockTable', () => {
  it.each([
    { blocks: 1, sources: 1, claims: 1 },
    { blocks: 10, sources: 3, claims: 10 },
    { blocks: 64, sources: 4, claims: 64 },
  ])('hands each of $blocks blocks to exactly one of $claims concurrent claims from $sources sources', async ({ blocks, sources, claims }) => {
    const table = new BlockTable({ blockCount: blocks, sourceCount: sources });
    const results = await Promise.all(Array.from({ length: claims }, (_, i) => table.claim(i % sources)));
    const handed = results.map(blockOf).sort((a, b) => a - b);
    expect(handed).toEqual(Array.from({ length: blocks }, (_, i) => i));
    expect((await table.claim(0)).kind).toBe('wait');
  });

  it('skips blocks already done from a resume state', async () => {
    const table = new BlockTable({ blockCount: 5, sourceCount: 2, done: [0, 2, 4] });
    const claims = await Promise.all([table.claim(0), table.claim(1), table.claim(0)]);
    expect(claims.map((c) => c.kind)).toEqual(['block', 'block', 'wait']);
    expect(claims.slice(0, 2).map(blockOf)).toEqual([1, 3]);
  });

  it('is done, and has nothing more to hand out, once every block completed', async () => {
    const table = new BlockTable({ blockCount: 2, sourceCount: 2 });
    const [a, b] = await Promise.all([table.claim(0), table.claim(1)]);
    await Promise.all([table.complete(blockOf(a as ClaimResult), 0), table.complete(blockOf(b as ClaimResult), 1)]);
    expect(table.allDone).toBe(true);
    expect(await table.doneBlocks()).toEqual([0, 1]);
    expect((await table.claim(0)).kind).toBe('none');
  });

  it('gives a failed block to another source and never back to the one that failed it', async () => {
    const table = new BlockTable({ blockCount: 3, sourceCount: 2 });
    const block = blockOf(await table.claim(0));
    await table.fail(block, 0);
    expect(blockOf(await table.claim(0))).not.toBe(block);
    expect(blockOf(await table.claim(1))).toBe(block);
  });

  it.each([
    { maxFailures: 1, failures: 1, dropped: true },
    { maxFailures: 3, failures: 2, dropped: false },
    { maxFailures: 3, failures: 3, dropped: true },
  ])('with maxFailures $maxFailures, $failures failures in a row drop the source: $dropped', async ({ maxFailures, failures, dropped }) => {
    const table = new BlockTable({ blockCount: 10, sourceCount: 2, maxFailures });
    const outcomes = [];
    for (let i = 0; i < failures; i++) outcomes.push(await table.fail(blockOf(await table.claim(0)), 0));
    expect(table.isDropped(0)).toBe(dropped);
    expect(outcomes.filter((o) => o.dropped)).toHaveLength(dropped ? 1 : 0);
    expect((await table.claim(0)).kind).toBe(dropped ? 'none' : 'block');
  });

  it('forgives earlier failures once the source completes a block', async () => {
    const table = new BlockTable({ blockCount: 10, sourceCount: 2, maxFailures: 2 });
    await table.fail(blockOf(await table.claim(0)), 0);
    await table.complete(blockOf(await table.claim(0)), 0);
    await table.fail(blockOf(await table.claim(0)), 0);
    expect(table.isDropped(0)).toBe(false);
  });

  it('drops a source that is gone on its first failure', async () => {
    const table = new BlockTable({ blockCount: 4, sourceCount: 2 });
    expect(await table.fail(blockOf(await table.claim(1)), 1, true)).toEqual({ dropped: true });
    expect((await table.claim(1)).kind).toBe('none');
  });

  it('offers a block every source failed to them again until their failures drop them, then reports it unavailable', async () => {
    const table = new BlockTable({ blockCount: 1, sourceCount: 2, maxFailures: 2 });
    await table.fail(blockOf(await table.claim(0)), 0);
    await table.fail(blockOf(await table.claim(1)), 1);
    expect(await table.fail(blockOf(await table.claim(0)), 0)).toEqual({ dropped: true });
    expect(await table.fail(blockOf(await table.claim(1)), 1)).toEqual({ dropped: true });
    expect(await Promise.all([table.claim(0), table.claim(1)])).toEqual([{ kind: 'none' }, { kind: 'none' }]);
    expect(table.unavailableBlocks()).toEqual([0]);
    expect(table.allDone).toBe(false);
  });

  it('wakes a waiting source when a block in flight elsewhere fails, and gives it that block', async () => {
    const table = new BlockTable({ blockCount: 1, sourceCount: 2 });
    const block = blockOf(await table.claim(0));
    const waiting = await table.claim(1);
    if (waiting.kind !== 'wait') throw new Error('expected to wait');
    await table.fail(block, 0);
    await waiting.changed;
    expect(blockOf(await table.claim(1))).toBe(block);
  });

  it('hands out nothing after a stop, but still lets blocks in flight complete', async () => {
    const table = new BlockTable({ blockCount: 3, sourceCount: 1 });
    const block = blockOf(await table.claim(0));
    await table.stop();
    expect((await table.claim(0)).kind).toBe('none');
    await table.complete(block, 0);
    expect(await table.doneBlocks()).toEqual([block]);
  });

  it('returns a released block to pending without blaming the source', async () => {
    const table = new BlockTable({ blockCount: 1, sourceCount: 1, maxFailures: 1 });
    const block = blockOf(await table.claim(0));
    await table.release(block, 0);
    expect(table.isDropped(0)).toBe(false);
    expect(blockOf(await table.claim(0))).toBe(block);
  });

  it('refuses to complete a block no one was given; a copy completing after the winner does not count', async () => {
    const table = new BlockTable({ blockCount: 2, sourceCount: 1 });
    const block = blockOf(await table.claim(0));
    expect(await table.complete(block, 0)).toEqual({ won: true, losers: [] });
    expect(await table.complete(block, 0)).toEqual({ won: false, losers: [] });
    await expect(table.complete(1, 0)).rejects.toThrow(/not in flight/);
  });

  it.each([1, 2, 3, 4, 5])(
    'with concurrent workers and one flaky source (seed %i), every block is done once and none is lost',
    async (seed) => {
      const next = random(seed);
      const blockCount = 40;
      const table = new BlockTable({ blockCount, sourceCount: 3, maxFailures: 1000 });
      const completions: number[] = [];
      const worker = claimingWorker(table, next, () => FRESH, async (source, block) => {
        if (source === 2 && next() < 0.5) await table.fail(block, source);
        else {
          completions.push(block);
          await table.complete(block, source);
        }
      });
      await Promise.all([0, 0, 1, 1, 2, 2].map(worker));
      expect(table.allDone).toBe(true);
      expect(completions.sort((a, b) => a - b)).toEqual(Array.from({ length: blockCount }, (_, i) => i));
    },
  );
  it.each([1, 2, 3, 4, 5, 6, 7, 8])(
    'never strands a block when slow sources are held back and the fast one sends bad blocks (seed %i)',
    async (seed) => {
      const next = random(seed);
      const blockCount = 24;
      const table = new BlockTable({ blockCount, sourceCount: 3, maxFailures: 50 });
      // Source 0 is the fast one, never held back; the others are mostly held back off fresh blocks
      // while it is in the run, as the engine does near the end.
      const policy = (source: number) => ({ fresh: source === 0 || table.isDropped(0) || next() < 0.1 });
      const worker = claimingWorker(table, next, policy, async (source, block) => {
        if (source === 0 && next() < 0.3) await table.blame(block, source);
        else await table.complete(block, source);
      });
      const run = Promise.all([0, 0, 1, 2].map(worker));
      // Everything here is microtasks: a run that has not ended by the deadline never will.
      let deadline: NodeJS.Timeout | undefined;
      const hung = new Promise<never>((_, reject) => (deadline = setTimeout(() => reject(new Error('the claims stopped: a block was left to no one')), 10_000)));
      await Promise.race([run, hung]).finally(() => clearTimeout(deadline));
      expect(table.allDone).toBe(true);
    },
  );
});

describe('BlockTable endgame', () => {
  const anyBlock = { fresh: true, duplicate: () => 1 };

  it('hands an in-flight block to a second source only once nothing is pending, and only if the policy allows', async () => {
    const table = new BlockTable({ blockCount: 2, sourceCount: 3 });
    const first = await table.claim(0, anyBlock);
    expect(first).toMatchObject({ kind: 'block', block: 0, duplicate: false });
    expect(await table.claim(1, anyBlock)).toMatchObject({ kind: 'block', block: 1, duplicate: false });
    expect((await table.claim(2, { fresh: true })).kind).toBe('wait');
    expect((await table.claim(2, { fresh: true, duplicate: () => undefined })).kind).toBe('wait');
    const duplicate = await table.claim(2, { fresh: true, duplicate: (block) => (block === 1 ? 5 : 1) });
    expect(duplicate).toEqual({ kind: 'block', block: 1, duplicate: true });
  });

  it('lets the first copy win, names the losers, and ignores the late copy', async () => {
    const table = new BlockTable({ blockCount: 1, sourceCount: 2 });
    await table.claim(0, anyBlock);
    expect(await table.claim(1, anyBlock)).toMatchObject({ block: 0, duplicate: true });
    expect(await table.complete(0, 1)).toEqual({ won: true, losers: [0] });
    expect(await table.complete(0, 0)).toEqual({ won: false, losers: [] });
    await table.release(0, 0);
    expect(table.allDone).toBe(true);
  });

  it('keeps a block in flight while another holder is at it, and returns it to pending when the last one fails', async () => {
    const table = new BlockTable({ blockCount: 1, sourceCount: 3 });
    await table.claim(0, anyBlock);
    await table.claim(1, anyBlock);
    await table.fail(0, 0);
    expect((await table.claim(2, { fresh: true })).kind).toBe('wait');
    await table.fail(0, 1);
    expect(await table.claim(2, { fresh: true })).toEqual({ kind: 'block', block: 0, duplicate: false });
  });

  it('never gives a block more than two holders, nor back to a holder', async () => {
    const table = new BlockTable({ blockCount: 1, sourceCount: 3 });
    await table.claim(0, anyBlock);
    await table.claim(1, anyBlock);
    expect((await table.claim(2, anyBlock)).kind).toBe('wait');
    expect((await table.claim(1, anyBlock)).kind).toBe('wait');
  });

  it('holds a source back from fresh blocks when the policy says so, without losing the block', async () => {
    const table = new BlockTable({ blockCount: 1, sourceCount: 2 });
    const waiting = await table.claim(0, { fresh: false });
    expect(waiting.kind).toBe('wait');
    expect(await table.claim(1, { fresh: true })).toMatchObject({ block: 0 });
  });

  it('gives a held-back source the block every other source has failed, so it is not left unfetched', async () => {
    const table = new BlockTable({ blockCount: 2, sourceCount: 2 });
    await table.complete(blockOf(await table.claim(0)), 0);
    await table.blame(blockOf(await table.claim(0)), 0);
    expect((await table.claim(0, { fresh: true })).kind).toBe('none');
    expect(await table.claim(1, { fresh: false })).toEqual({ kind: 'block', block: 1, duplicate: false });
  });

  it('drops a source after 3 bad blocks even when good ones come in between', async () => {
    const table = new BlockTable({ blockCount: 6, sourceCount: 2 });
    for (let i = 0; i < 2; i++) {
      await table.blame(blockOf(await table.claim(0)), 0);
      await table.complete(blockOf(await table.claim(0)), 0);
    }
    expect(await table.blame(blockOf(await table.claim(0)), 0)).toEqual({ dropped: true });
  });
});
