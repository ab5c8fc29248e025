/**
 * docs/nginx.md section 1 as written: nginx's workers run as www-data, as the Debian package runs
 * them (`user www-data;`), not as the user that started the proxy; the proxy is started with the
 * documented commands, its socket in a world-searchable directory like /run/websockify. With
 * `--unix-listen-group www-data` the workers connect; without it the socket is root's group,
 * nginx gets EACCES and answers 502: the option is what makes the documented setup work.
 */
import { test, type TestContext } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findTool } from '../support/system-tool.js';
import { deferCleanup } from '../support/cleanup.js';
import { startProxy } from '../support/proxy-process.js';
import { startEchoTarget } from '../support/targets.js';
import { startNginx, type Nginx } from '../support/nginx.js';
import { docBlock, lineMatching, shellLines, substitute } from '../support/doc-blocks.js';
import { echoRoundTrip, nextEvent, openWebsock } from '../support/websock-node.js';

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
  const master = readFileSync(join(nginx.dir, 'nginx.pid'), 'utf8').trim();
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
  const base = mkdtempSync(join(tmpdir(), 'wsfy-run-'));
  chmodSync(base, 0o755); // like /run: searchable by everyone
  defer(() => rmSync(base, { recursive: true, force: true }));
  const runDir = join(base, 'websockify');
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
  const socketPath = join(runDir, 'websockify.sock');
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
