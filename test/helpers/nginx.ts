/** A real nginx (Debian's nginx-light) for assemble tests: a temp prefix, one server block per mirror. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const NGINX = '/usr/sbin/nginx';

export interface NginxMirror {
  /** nginx `limit_rate` (per connection), e.g. '2m'. */
  readonly limitRate?: string;
  /** Answer 503 to about half the requests. */
  readonly flaky?: boolean;
}

export interface Nginx {
  /** One URL of `name` per mirror. */
  readonly urls: string[];
  stop(): Promise<void>;
}

/** Serves `root` (a folder holding the file) from one port per mirror; resolves once every port answers. */
export async function startNginx(prefix: string, root: string, name: string, mirrors: readonly NginxMirror[]): Promise<Nginx> {
  const ports = await Promise.all(mirrors.map(() => freePort()));
  const servers = mirrors.map((mirror, i) =>
    [
      `  server { listen 127.0.0.1:${ports[i]}; root ${root};`,
      mirror.limitRate === undefined ? '' : `    limit_rate ${mirror.limitRate};`,
      mirror.flaky === true ? '    location / { if ($flaky) { return 503; } }' : '',
      '  }',
    ].join('\n'),
  );
  fs.writeFileSync(
    path.join(prefix, 'nginx.conf'),
    `daemon off; master_process off; worker_processes 1; user root;
pid ${prefix}/nginx.pid; error_log ${prefix}/error.log warn;
events { worker_connections 256; }
http {
  access_log off; sendfile on;
  client_body_temp_path ${prefix}/tmp; proxy_temp_path ${prefix}/tmp; fastcgi_temp_path ${prefix}/tmp;
  uwsgi_temp_path ${prefix}/tmp; scgi_temp_path ${prefix}/tmp;
  map $request_id $flaky { "~[0-7]$" 1; default 0; }
${servers.join('\n')}
}
`,
  );
  fs.mkdirSync(path.join(prefix, 'tmp'), { recursive: true });
  const child: ChildProcess = spawn(NGINX, ['-p', prefix, '-c', path.join(prefix, 'nginx.conf')], { stdio: 'ignore' });
  await Promise.all(ports.map((port) => untilListening(port)));
  return {
    urls: ports.map((port) => `http://127.0.0.1:${port}/${name}`),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function untilListening(port: number, deadlineMs = 20_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nginx did not listen on ${port} in time`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
