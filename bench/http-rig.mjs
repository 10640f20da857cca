/**
 * The HTTP mirrors of the download bench: one nginx (Debian's package) run as root from a temp prefix
 * (`daemon off`, pid, logs and temp folders inside it), one server block per mirror and scenario.
 *
 * Mirror i of every scenario listens on 127.0.0.<i> (the whole of 127/8 is loopback on Linux), each
 * scenario on its own port: distinct hosts, so per-host connection limits (aria2's -x, backupd's
 * --max-per-host) apply per mirror as they would on the Internet, not to all four at once. Each mirror
 * serves its own copy of the file (mirrors/m<i>/ of the source image), so no two share page-cache pages.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const NGINX = '/usr/sbin/nginx';

/**
 * What each scenario's four mirrors do. `limitRate` is nginx's limit_rate, which is per connection:
 * a client opening k connections to that mirror gets k × 10 MiB/s (the benches say so with the numbers).
 */
export const SCENARIOS = [
  { id: 'fast', title: '4 fast mirrors', mirrors: [{}, {}, {}, {}] },
  { id: 'slow', title: '4 mirrors, one at 10 MiB/s per connection', mirrors: [{}, {}, {}, { limitRate: '10m' }] },
  { id: 'flaky', title: '4 mirrors, one answering 503 to half the requests', mirrors: [{}, {}, {}, { flaky: true }] },
];

export function hasNginx() {
  return fs.existsSync(NGINX);
}

export function nginxVersion() {
  const out = spawnSync(NGINX, ['-v'], { encoding: 'utf8' });
  return out.status === 0 ? out.stderr.trim().replace(/^nginx version: /, '') : undefined;
}

function serverBlock(address, port, root, mirror) {
  const lines = [`  server {`, `    listen ${address}:${port};`, `    root ${root};`];
  if (mirror.limitRate !== undefined) lines.push(`    limit_rate ${mirror.limitRate};`);
  // $request_id is 32 random hex digits: its last digit is 0-7 for half of all requests.
  if (mirror.flaky) lines.push('    location / {', '      if ($flaky) { return 503; }', '    }');
  lines.push('  }');
  return lines.join('\n');
}

function config(prefix, roots, basePort) {
  const servers = SCENARIOS.flatMap((scenario, s) =>
    scenario.mirrors.map((mirror, m) => serverBlock(`127.0.0.${m + 1}`, basePort + s, roots[m], mirror)),
  );
  return `# written by bench/http-rig.mjs
daemon off;
master_process on;
worker_processes 2;
user root;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  default_type application/octet-stream;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  map $request_id $flaky { ~[0-7]$ 1; default 0; }
${servers.join('\n')}
}
`;
}

async function waitUntil(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await sleep(50);
  }
}

async function answers(url) {
  try {
    const response = await globalThis.fetch(url, { method: 'HEAD' });
    return response.status === 200 || response.status === 503;
  } catch {
    return false;
  }
}

/**
 * Starts nginx serving `roots[i]` as mirror i (i = 0..3) for every scenario. `name` is the file's name
 * under each root. Returns { urlsFor(scenarioId), stop() }.
 */
export async function startMirrors({ roots, name, basePort = 18080, log = () => undefined }) {
  if (process.getuid?.() !== 0) throw new Error('the HTTP rig runs nginx as root (it reads the bench image as root)');
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'backupd-bench-nginx-'));
  const conf = path.join(prefix, 'nginx.conf');
  fs.writeFileSync(conf, config(prefix, roots, basePort));
  const test = spawnSync(NGINX, ['-t', '-q', '-p', prefix, '-e', path.join(prefix, 'error.log'), '-c', conf], { encoding: 'utf8' });
  if (test.status !== 0) throw new Error(`nginx rejects ${conf}: ${test.stderr.trim()}`);

  const child = spawn(NGINX, ['-p', prefix, '-e', path.join(prefix, 'error.log'), '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let exited = false;
  child.stderr.on('data', (data) => (stderr += data));
  child.on('exit', () => (exited = true));
  const urlsFor = (id) => {
    const s = SCENARIOS.findIndex((scenario) => scenario.id === id);
    if (s < 0) throw new Error(`no scenario ${id}`);
    return roots.map((_, m) => `http://127.0.0.${m + 1}:${basePort + s}/${name}`);
  };
  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM'); // nginx: fast shutdown
    await waitUntil(() => exited, 10_000, 'nginx did not stop').catch(() => child.kill('SIGKILL'));
    fs.rmSync(prefix, { recursive: true, force: true });
  };
  try {
    const all = SCENARIOS.flatMap((scenario) => urlsFor(scenario.id));
    await waitUntil(async () => {
      if (exited) throw new Error(`nginx exited: ${stderr.trim() || fs.readFileSync(path.join(prefix, 'error.log'), 'utf8').trim()}`);
      return (await Promise.all(all.map(answers))).every(Boolean);
    }, 10_000, 'nginx did not answer on every mirror');
  } catch (err) {
    await stop();
    throw err;
  }
  log(`nginx ${nginxVersion()} serving ${roots.length} mirrors × ${SCENARIOS.length} scenarios on 127.0.0.1-${roots.length}, ports ${basePort}-${basePort + SCENARIOS.length - 1} (prefix ${prefix})`);
  return { urlsFor, stop, prefix };
}
