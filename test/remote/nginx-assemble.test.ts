/** `backup assemble` against real nginx mirrors (installed by .ci/run), end to end through the CLI. */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { NGINX, startNginx, type Nginx } from '../helpers/nginx.js';
import { sha256File, tempDir } from '../helpers/tree.js';

const MiB = 1024 * 1024;
let nginx: Nginx | undefined;

afterEach(async () => {
  await nginx?.stop();
  nginx = undefined;
});

describe.skipIf(!fs.existsSync(NGINX))('backup assemble from nginx mirrors', () => {
  it('builds an identical file from a fast, a rate-limited and a flaky (503) mirror, using each that works', async () => {
    const root = tempDir('backupd-nginx-');
    const data = randomBytes(24 * MiB);
    const sha256 = createHash('sha256').update(data).digest('hex');
    fs.mkdirSync(path.join(root, 'www'));
    fs.writeFileSync(path.join(root, 'www', 'big.bin'), data);
    nginx = await startNginx(root, path.join(root, 'www'), 'big.bin', [{}, { limitRate: '2m' }, { flaky: true }]);
    const out = path.join(root, 'out');
    fs.mkdirSync(out);
    const result = await runCli(['assemble', 'big.bin', '--from', ...nginx.urls, '--block-size', '1MiB', '--sha256', sha256, '--json'], {
      cwd: out,
      env: { NO_PROXY: '*', no_proxy: '*' },
    });
    expect(result.code).toBe(0);
    expect(sha256File(path.join(out, 'big.bin'))).toBe(sha256);
    const report = JSON.parse(result.stdout) as { sources: { url: string; blocks: number }[]; repaired: unknown[] };
    // The flaky mirror joins late when its probe or sample windows were answered 503, and may lose
    // every block to the others before it does; whether it is used or not, the other two are.
    expect(report.sources.map((s) => s.url).slice(0, 2)).toEqual(nginx.urls.slice(0, 2));
    expect(report.sources.reduce((sum, s) => sum + s.blocks, 0)).toBe(24);
    expect(report.sources[0]?.blocks).toBeGreaterThan(0);
    expect(report.repaired).toEqual([]);
    expect(fs.readdirSync(out)).toEqual(['big.bin']);
  });
});
