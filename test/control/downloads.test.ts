/** Background downloads end to end: `assemble --background` into a real daemon, across a restart. */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, controlSetup, startDaemon, statusUntil, until, writeConfig } from './fixture.js';

const MiB = 1024 * 1024;

describe('assemble --background', { timeout: 180_000 }, () => {
  it('runs in the daemon within downloads.parallel, survives a restart from its done blocks, refuses bad arguments with the message of assemble', async () => {
    const setup = controlSetup();
    const mirrors = [path.join(setup.root, 'm1'), path.join(setup.root, 'm2')];
    const big = randomBytes(24 * MiB);
    const small = randomBytes(MiB);
    for (const mirror of mirrors) {
      fs.mkdirSync(mirror);
      fs.writeFileSync(path.join(mirror, 'big.bin'), big);
      fs.writeFileSync(path.join(mirror, 'small.bin'), small);
    }
    const out = path.join(setup.root, 'out');
    fs.mkdirSync(out);
    const config = writeConfig(setup, { downloads: { parallel: 1 }, jobs: [{ source: setup.src, dest: setup.dst }] });
    let daemon = await startDaemon(setup, ['--config', config]);

    const first = await cli(setup, ['assemble', 'big.bin', '--from', ...mirrors, '--block-size', '512k', '--limit-rate', '3MiB', '--config', config, '--background'], { cwd: out });
    expect(first.code).toBe(0);
    expect(first.stdout.trim()).toBe('d1');
    const second = await cli(setup, ['assemble', 'small.bin', '--from', ...mirrors, '-o', 'copy.bin', '--config', config, '--background'], { cwd: out });
    expect(second.stdout.trim()).toBe('d2');

    // One at a time (parallel 1): d2 waits while d1 has blocks done (24 MiB at 3 MiB/s: about 8 s).
    const running = await statusUntil(setup, (s) => (s.report.downloads[0]?.bytes ?? 0) > 0, 'd1 to have blocks done');
    expect(running.report.downloads.map((d) => [d.id, d.state])).toEqual([['d1', 'running'], ['d2', 'queued']]);
    expect(running.report.downloads[0]).toMatchObject({ output: path.join(out, 'big.bin'), totalBytes: 24 * MiB, sources: mirrors });
    // downloads.parallel is applied by a reload: d2 starts beside d1.
    writeConfig(setup, { downloads: { parallel: 2 }, jobs: [{ source: setup.src, dest: setup.dst }] });
    expect((await cli(setup, ['ctl', 'reload'])).stderr).toContain('1 job(s), 2 download(s) at once');
    await statusUntil(setup, (s) => s.report.downloads[1]?.state !== 'queued', 'd2 to start beside d1');
    // kill -9: the daemon cannot stop its child, which goes on writing the .part; the next daemon must stop
    // that orphan before it resumes, never run a second writer beside it.
    const orphan = (JSON.parse(fs.readFileSync(path.join(setup.state, 'downloads.json'), 'utf8')) as { downloads: { pid?: number }[] }).downloads[0]?.pid as number;
    expect(fs.existsSync(`/proc/${orphan}`)).toBe(true);
    await daemon.stop('SIGKILL');
    const kept = JSON.parse(fs.readFileSync(path.join(out, 'big.bin.part.state'), 'utf8')) as { done: unknown[] };
    expect(kept.done.length).toBeGreaterThan(0);

    daemon = await startDaemon(setup, ['--config', config]);
    await until(() => !fs.existsSync(`/proc/${orphan}`) || /^State:\s+Z/m.test(fs.readFileSync(`/proc/${orphan}/status`, 'utf8')), 'the orphan to be stopped');
    const finished = await statusUntil(setup, (s) => s.report.downloads.every((d) => d.state === 'done'), 'both downloads to finish', 40_000);
    expect(finished.report.downloads.map((d) => d.id)).toEqual(['d1', 'd2']);
    expect(fs.readFileSync(path.join(out, 'big.bin')).equals(big)).toBe(true);
    expect(fs.readFileSync(path.join(out, 'copy.bin')).equals(small)).toBe(true);
    expect(fs.existsSync(path.join(out, 'big.bin.part'))).toBe(false);
    const log = await cli(setup, ['log', '--json']);
    const downloads = log.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; id?: string; state?: string }).filter((e) => e.type === 'download');
    // In the order they ended: d2 (1 MiB, started beside d1 after the reload) may end first.
    expect(downloads.map((d) => [d.id, d.state]).sort()).toEqual([['d1', 'done'], ['d2', 'done']]);

    // A download that can start at once is checked by assemble itself before the command returns.
    const refused = await cli(setup, ['assemble', 'none.bin', '--from', ...mirrors, '--config', config, '--background'], { cwd: out });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('none.bin');
    const cancelled = await cli(setup, ['ctl', 'cancel', 'd9']);
    expect(cancelled.code).toBe(2);
    expect(cancelled.stderr).toContain('no download d9');
    expect((await daemon.stop()).code).toBe(0);
  });

  it('cancels a running download: its child stops, the .part and its state stay, the output never appears, and a restart does not resume it', async () => {
    const setup = controlSetup();
    const mirror = path.join(setup.root, 'm1');
    fs.mkdirSync(mirror);
    fs.writeFileSync(path.join(mirror, 'slow.bin'), randomBytes(16 * MiB));
    const out = path.join(setup.root, 'out');
    fs.mkdirSync(out);
    const config = writeConfig(setup, { jobs: [{ source: setup.src, dest: setup.dst }] });
    let daemon = await startDaemon(setup, ['--config', config]);

    const started = await cli(setup, ['assemble', 'slow.bin', '--from', mirror, '--block-size', '256k', '--limit-rate', '1MiB', '--config', config, '--background'], { cwd: out });
    expect(started.stdout.trim()).toBe('d1');
    await statusUntil(setup, (s) => (s.report.downloads[0]?.bytes ?? 0) > 0, 'd1 to have blocks done');
    const child = (JSON.parse(fs.readFileSync(path.join(setup.state, 'downloads.json'), 'utf8')) as { downloads: { pid?: number }[] }).downloads[0]?.pid as number;

    const cancelled = await cli(setup, ['ctl', 'cancel', 'd1']);
    expect(cancelled.code).toBe(0);
    await until(() => !fs.existsSync(`/proc/${child}`) || /^State:\s+Z/m.test(fs.readFileSync(`/proc/${child}/status`, 'utf8')), 'the child to stop');
    const after = await statusUntil(setup, (s) => s.report.downloads[0]?.state === 'cancelled', 'd1 to be cancelled');
    expect(after.report.downloads.map((d) => d.id)).toEqual(['d1']);
    expect(fs.existsSync(path.join(out, 'slow.bin'))).toBe(false);
    expect(fs.existsSync(path.join(out, 'slow.bin.part'))).toBe(true);
    const again = await cli(setup, ['ctl', 'cancel', 'd1']);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already cancelled');

    expect((await daemon.stop()).code).toBe(0);
    daemon = await startDaemon(setup, ['--config', config]);
    const restarted = await statusUntil(setup, (s) => s.report.downloads.length === 1, 'the restarted daemon to list d1');
    expect(restarted.report.downloads[0]?.state).toBe('cancelled');
    expect(fs.existsSync(path.join(out, 'slow.bin'))).toBe(false);
    expect((await daemon.stop()).code).toBe(0);
  });
});
