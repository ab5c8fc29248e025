/**
 * Unsock mode end to end: a TCP-only program (here websockify-ts itself, in the role of
 * novnc_server) run under the preload library's unsock mode, so its port 6080 becomes
 * UNSOCK_DIR/6080.sock, reached through a real nginx `upstream { server unix:... }`; its own
 * target (a TCP echo server) stays on TCP because UNSOCK_PORT covers 6080 only.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, it } from 'node:test';
import { findPreloadLibrary, packageRoot } from '../../src/wrap/preload-library.js';
import { CLI, eventually, wsExchange } from '../support/cli-program.js';
import { freePort, requireTool, start, tempDir, type Running } from '../support/programs.js';

const running: Running[] = [];
const servers: net.Server[] = [];
let work: { dir: string; cleanup: () => void };
before(() => {
  spawnSync('sh', [path.join(packageRoot(), 'scripts', 'build-native.sh')], { stdio: 'inherit' });
  work = tempDir('wsfy-unsock-nginx-');
});
after(async () => {
  for (const r of running) await r.stop();
  for (const s of servers) await new Promise<void>((resolve) => s.close(() => resolve()));
  work.cleanup();
});

function nginxConfig(prefix: string, port: number, socket: string): string {
  // Everything nginx writes stays under its own prefix; nothing system-wide is read or changed.
  const asRoot = process.getuid?.() === 0 ? 'user root root;' : '';
  return `${asRoot}
daemon off;
master_process off;
pid ${prefix}/nginx.pid;
error_log stderr notice;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  upstream novnc { server unix:${socket}; }
  server {
    listen 127.0.0.1:${port};
    location ~ ^/(.*)$ {
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_pass http://novnc/$1;
    }
  }
}
`;
}

it('unsock mode: a WebSocket client reaches a TCP-only proxy moved to DIR/6080.sock through nginx upstream unix:', async () => {
  const nginx = requireTool('nginx', 'nginx-light');
  const lib = findPreloadLibrary();
  const unsockDir = path.join(work.dir, 'unsockets');
  mkdirSync(unsockDir, { mode: 0o700 });

  // The "VNC server": a plain TCP echo server on loopback.
  const echo = net.createServer((c) => {
    c.write('RFB 003.008\n');
    c.pipe(c);
  });
  servers.push(echo);
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  const echoPort = (echo.address() as net.AddressInfo).port;

  // The usual libunsock.so environment (docs/wrap.md, unsock mode), with our library in its place.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    UNSOCK_MODE: '660',
    UNSOCK_PORT: '6080',
    UNSOCK_ADDR: '127.0.0.1/0',
    UNSOCK_DIR: `${unsockDir}/`,
    LD_PRELOAD: lib,
  };
  const proxy = start(process.execPath, [CLI, '6080', `127.0.0.1:${echoPort}`], env);
  running.push(proxy);
  await proxy.waitFor(/ {2}- Listen on 127\.0\.0\.1:6080\n/);
  const socket = path.join(unsockDir, '6080.sock');
  const st = lstatSync(socket);
  assert.ok(st.isSocket(), '6080.sock is a unix socket');
  assert.equal(st.mode & 0o777, 0o660);

  const prefix = path.join(work.dir, 'nginx');
  for (const d of ['', 'body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(path.join(prefix, d), { recursive: true });
  const port = await freePort();
  writeFileSync(path.join(prefix, 'nginx.conf'), nginxConfig(prefix, port, socket));
  const web = start(nginx, ['-p', prefix, '-c', path.join(prefix, 'nginx.conf'), '-e', 'stderr'], process.env);
  running.push(web);
  await eventually(
    () =>
      new Promise<void>((resolve, reject) => {
        const c = net.connect(port, '127.0.0.1', () => {
          c.destroy();
          resolve();
        });
        c.on('error', reject);
      }),
  );

  const got = await eventually(() => wsExchange(`ws://127.0.0.1:${port}/websockify`, 'through nginx\n', /through nginx\n/));
  assert.equal(got, 'RFB 003.008\nthrough nginx\n');
  assert.match(proxy.stderr(), /connecting to: 127\.0\.0\.1:\d+/, "the proxy's own target stayed on TCP");
});
