/**
 * The plugin examples of docs/plugins.md, run as a user would copy them: each block is written
 * into a small project whose node_modules/websockify-ts is this checkout (as `npm install` would
 * give it), and the proxy is started from there with the documented option.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { docBlock, REPO_ROOT, substitute } from '../support/doc-blocks.js';
import { startProxy } from '../support/proxy-process.js';
import { startEchoTarget, type TcpTarget } from '../support/targets.js';
import { tempDir } from '../support/temp-dir.js';
import { openClient, receiveBytes } from '../support/ws-client.js';

const run = promisify(execFile);

async function echoes(url: string, headers: Record<string, string> = {}): Promise<void> {
  const ws = await new Promise<WebSocket>((resolve, reject) => {
    const client = new WebSocket(url, ['binary'], { headers });
    client.once('open', () => resolve(client));
    client.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    client.once('error', reject);
  });
  const back = receiveBytes(ws, 5);
  ws.send(Buffer.from('hello'));
  assert.equal((await back).toString(), 'hello');
  ws.close();
}

describe('the plugin examples in docs/plugins.md', () => {
  let echo: TcpTarget;
  let project: { dir: string; cleanup: () => void };
  before(async () => {
    echo = await startEchoTarget();
    project = tempDir('wsfy-plugin-docs-');
    writeFileSync(path.join(project.dir, 'package.json'), JSON.stringify({ name: 'my-plugins', private: true, type: 'module' }));
    mkdirSync(path.join(project.dir, 'node_modules'));
    symlinkSync(REPO_ROOT, path.join(project.dir, 'node_modules', 'websockify-ts'));
    symlinkSync(path.join(REPO_ROOT, 'node_modules', 'jose'), path.join(project.dir, 'node_modules', 'jose'));
  });
  after(async () => {
    await echo.close();
    project.cleanup();
  });

  it('the token plugin example routes its token and answers 404 for another', async () => {
    const block = substitute(docBlock('plugins.md', 'token-plugin-example'), [['port: 5901', `port: ${echo.port}`]]);
    writeFileSync(path.join(project.dir, 'my-plugin.js'), block);
    const proxy = await startProxy(['--token-plugin', './my-plugin.js:MyPlugin', '127.0.0.1:0'], { cwd: project.dir });
    try {
      await echoes(`ws://127.0.0.1:${proxy.port}/?token=desk1`);
      await assert.rejects(openClient(`ws://127.0.0.1:${proxy.port}/?token=desk9`), /HTTP 404/);
    } finally {
      await proxy.stop();
    }
  });

  it('the auth plugin example imports websockify-ts/plugin, refuses with 403 and admits the ticket', async () => {
    writeFileSync(path.join(project.dir, 'gate.js'), docBlock('plugins.md', 'auth-plugin-example'));
    const proxy = await startProxy(['--auth-plugin', './gate.js:Gate', '127.0.0.1:0', `127.0.0.1:${echo.port}`], { cwd: project.dir });
    try {
      await assert.rejects(openClient(`ws://127.0.0.1:${proxy.port}/`), /HTTP 403/);
      await echoes(`ws://127.0.0.1:${proxy.port}/`, { 'x-vnc-ticket': 'ok' });
    } finally {
      await proxy.stop();
    }
  });

  it('the JWT example makes a token that JWTTokenApi accepts', async () => {
    writeFileSync(path.join(project.dir, 'symmetric.key'), `${randomBytes(32).toString('base64url')}\n`);
    const block = substitute(docBlock('plugins.md', 'jwt-make-token'), [['port: 5901', `port: ${echo.port}`]]);
    writeFileSync(path.join(project.dir, 'make-token.mjs'), block);
    const { stdout } = await run(process.execPath, ['make-token.mjs'], { cwd: project.dir });
    const token = stdout.trim();
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    const proxy = await startProxy(['--token-plugin', 'JWTTokenApi', '--token-source', 'symmetric.key', '127.0.0.1:0'], { cwd: project.dir });
    try {
      await echoes(`ws://127.0.0.1:${proxy.port}/?token=${token}`);
      const [header, claims, signature = ''] = token.split('.');
      const forged = `${header}.${claims}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
      await assert.rejects(openClient(`ws://127.0.0.1:${proxy.port}/?token=${forged}`), /HTTP 404/);
    } finally {
      await proxy.stop();
    }
  });

  it('websockify-ts/plugin exports the errors the docs name, with their types', async () => {
    const script = "const api = await import('websockify-ts/plugin'); console.log(Object.keys(api).sort().join(' '));";
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: project.dir });
    assert.equal(stdout.trim(), 'HttpRejection PluginFailure TokenRejection WebsockifyError');
    const types = readFileSync(path.join(REPO_ROOT, 'dist/src/plugin-api.d.ts'), 'utf8');
    for (const name of ['TokenPlugin', 'AuthPlugin', 'AuthRequest', 'PluginContext', 'TargetSpec']) assert.match(types, new RegExp(`\\b${name}\\b`), name);
  });
});
