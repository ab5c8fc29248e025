/**
 * Unsock mode end to end: a TCP-only program (here websockify-ts itself, in the role of
 * novnc_server) run under the preload library's unsock mode, so its port 6080 becomes
 * UNSOCK_DIR/6080.sock, reached through a real nginx `upstream { server unix:... }`; its own
 * target (a TCP echo server) stays on TCP because UNSOCK_PORT covers 6080 only.
 *
 * Then docs/nginx.md section 1 as written: nginx's workers run as www-data, as the Debian package
 * runs them (`user www-data;`), not as the user that started the proxy; the proxy is started with
 * the documented commands, its socket in a world-searchable directory like /run/websockify. With
 * `--unix-listen-group www-data` the workers connect; without it the socket is root's group,
 * nginx gets EACCES and answers 502: the option is what makes the documented setup work.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, it, test, type TestContext } from 'node:test';
import { findPreloadLibrary, packageRoot } from '../../src/wrap/preload-library.js';
import { CLI, eventually, wsExchange } from '../support/cli-program.js';
import { freePort, requireTool, start, tempDir, type Running } from '../support/programs.js';
import { findTool } from '../support/system-tool.js';
import { deferCleanup } from '../support/cleanup.js';
import { startProxy } from '../support/proxy-process.js';
import { startEchoTarget } from '../support/targets.js';
import { startNginx, type Nginx } from '../support/nginx.js';
import { docBlock, lineMatching, shellLines, substitute } from '../support/doc-blocks.js';
import { echoRoundTrip, nextEvent, openWebsock } from '../support/websock-node.js';

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

const DIR_IN_DOCS = '/run/websockify';
const WORKER_USER = 'www-data';

/** The nginx binary, when this test can run: it needs root to start workers as another user. */
function nginxAsRoot(t: TestContext): string | null {
  const nginxBin = findTool(t, '/usr/sbin/nginx', 'nginx');
  if (nginxBin === null) return null;
  if (process.getuid?.() !== 0) {
    t.skip('needs root: nginx starts its workers as www-data only when its master runs as root');
    return null;
  }
  if (spawnSync('getent', ['passwd', WORKER_USER]).status !== 0) {
    t.skip(`no user ${WORKER_USER} on this system`);
    return null;
  }
  return nginxBin;
}

/** The uid every nginx worker (a child of the master in nginx.pid) runs as. */
function workerUids(nginx: Nginx): number[] {
  const master = readFileSync(path.join(nginx.dir, 'nginx.pid'), 'utf8').trim();
  const children = readdirSync(`/proc/${master}/task`).flatMap((tid) =>
    readFileSync(`/proc/${master}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean),
  );
  return children.map((pid) => Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]));
}

/**
 * Runs the documented `install -d` and `websockify` lines with /run/websockify moved into a
 * world-searchable temp dir and the VNC target replaced by an echo server; `drop` removes words
 * from the websockify line. Then nginx with the documented block, its workers as www-data.
 */
async function documentedStack(t: TestContext, nginxBin: string, drop: readonly string[] = []) {
  const defer = deferCleanup(t);
  const echo = await startEchoTarget();
  defer(() => echo.close());
  const base = mkdtempSync(path.join(tmpdir(), 'wsfy-run-'));
  chmodSync(base, 0o755); // like /run: searchable by everyone
  defer(() => rmSync(base, { recursive: true, force: true }));
  const runDir = path.join(base, 'websockify');
  const lines = shellLines(docBlock('nginx.md', 'unix-socket-command')).map((l) => l.replaceAll(DIR_IN_DOCS, runDir));
  const [installCmd, ...installArgs] = lineMatching(lines, /^install -d /).split(/\s+/);
  execFileSync(installCmd!, installArgs);
  const words = substitute(lineMatching(lines, /^websockify /), [['localhost:5900', `127.0.0.1:${echo.port}`]])
    .split(/\s+/)
    .slice(1);
  for (const word of drop) {
    assert.ok(words.includes(word), `the documented command has ${word}`);
    words.splice(words.indexOf(word), 1);
  }
  const proxy = await startProxy(words, { waitForListen: false });
  defer(() => proxy.stop());
  await proxy.waitForOutput(/Listen on unix socket/);
  const socketPath = path.join(runDir, 'websockify.sock');
  const conf = substitute(docBlock('nginx.md', 'unix-socket'), [
    [`${DIR_IN_DOCS}/websockify.sock`, socketPath],
    ['listen 80;', 'listen 127.0.0.1:{{PORT}};'],
  ]);
  const nginx = await startNginx(nginxBin, conf, {}, { user: WORKER_USER });
  defer(() => nginx.stop());
  const wwwData = Number(execFileSync('id', ['-u', WORKER_USER], { encoding: 'utf8' }).trim());
  assert.deepEqual([...new Set(workerUids(nginx))], [wwwData], 'the nginx workers run as www-data, not root');
  return { nginx, proxy, socketPath };
}

test('nginx workers running as www-data reach the socket made by the documented --unix-listen-mode 660 --unix-listen-group www-data', async (t) => {
  const nginxBin = nginxAsRoot(t);
  if (nginxBin === null) return;
  const { nginx, socketPath } = await documentedStack(t, nginxBin);
  const st = statSync(socketPath);
  assert.equal(st.mode & 0o777, 0o660);
  assert.equal(st.gid, Number(execFileSync('getent', ['group', WORKER_USER], { encoding: 'utf8' }).split(':')[2]));
  const sock = await openWebsock(`ws://127.0.0.1:${nginx.port}/websockify`);
  await echoRoundTrip(sock, 64 * 1024);
  const closed = nextEvent(sock, 'close');
  sock.close(1000, 'done');
  assert.equal((await closed).code, 1000);
});

test('the same setup without --unix-listen-group: nginx gets EACCES on the socket and answers 502', async (t) => {
  const nginxBin = nginxAsRoot(t);
  if (nginxBin === null) return;
  const { nginx, proxy } = await documentedStack(t, nginxBin, ['--unix-listen-group', WORKER_USER]);
  await assert.rejects(openWebsock(`ws://127.0.0.1:${nginx.port}/websockify`), /HTTP 502/);
  assert.match(await nginx.errorLog(), /connect\(\) to unix:.*websockify\.sock failed \(13: Permission denied\)/);
  assert.doesNotMatch(proxy.output(), /WebSocket connection/, 'nothing reached the proxy');
});
