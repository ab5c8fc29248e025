/**
 * What an operator reads when something is wrong, from the CLI as users run it: one readable line
 * per problem, in words, naming what to fix, with no library internals and no token.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, startProxy, type ProxyProcess } from '../support/proxy-process.js';
import { sendRaw, upgradeRequest } from '../support/raw-ws.js';
import { freePort } from '../support/programs.js';
import { tempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait.js';

/** The lines of `text` that match `pattern`. */
function linesMatching(text: string, pattern: RegExp): string[] {
  return text.split('\n').filter((l) => pattern.test(l));
}

/** Waits until the proxy has written `count` lines matching `pattern` (it logs each refusal). */
async function waitForLines(proxy: ProxyProcess, pattern: RegExp, count: number): Promise<void> {
  await waitFor(() => linesMatching(proxy.output(), pattern).length >= count, { what: `${count} lines matching ${pattern}:\n${proxy.output()}` });
}

async function refusedWith(proxy: ProxyProcess, token: string): Promise<number> {
  const answer = await sendRaw(proxy.port, upgradeRequest({ path: `/?token=${token}` }));
  answer.socket.destroy();
  return answer.status;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

describe('error messages', () => {
  let tmp: { dir: string; cleanup: () => void };
  before(() => (tmp = tempDir('wsfy-messages-')));
  after(() => tmp.cleanup());

  it('wrap mode with a program that does not exist: one line naming it and saying it was not found, nothing before it', async () => {
    const { code, stdout, stderr } = await runCli(['0', '--', '/nonexistent/prog', '--flag']);
    assert.equal(code, 1);
    assert.equal(stdout, '');
    assert.deepEqual(stderr.trimEnd().split('\n'), ["websockify: wrapped program '/nonexistent/prog' not found"]);

    // A bare name is looked up in PATH, as the shell would.
    const bare = await runCli(['0', '--', 'wsfy-no-such-program'], 10_000, { ...process.env, PATH: '/usr/bin:/bin' });
    assert.equal(bare.code, 1);
    assert.equal(bare.stdout, '');
    assert.deepEqual(bare.stderr.trimEnd().split('\n'), ["websockify: wrapped program 'wsfy-no-such-program' not found on PATH"]);
  });

  it('a Redis token source that is down: the 502 line says "token source unavailable: Redis at HOST:PORT: Connection refused", no ioredis internals', async () => {
    const port = await freePort(); // nothing listens there
    const proxy = await startProxy(['--token-plugin', 'TokenRedis', '--token-source', `127.0.0.1:${port}`, '127.0.0.1:0']);
    try {
      assert.equal(await refusedWith(proxy, 'desk1'), 502);
      const line = await proxy.waitForOutput(/handshake refused: 502/);
      assert.match(
        line,
        new RegExp(`handshake refused: 502 TokenRedis: token source unavailable: Redis at 127\\.0\\.0\\.1:${port}: Connection refused \\(ECONNREFUSED\\)`),
      );
      assert.doesNotMatch(proxy.output(), /max retries|maxRetriesPerRequest|Refer to|Connection is closed|\n\s+at /);
    } finally {
      await proxy.stop();
    }
  });

  it('a token-file syntax error: one line with the file, the line number and what is wrong, no token, said once and not per request', async () => {
    const file = path.join(tmp.dir, 'tokens');
    writeFileSync(file, 'desk1: 127.0.0.1:1\nsecret-tok-4f1e:127.0.0.1:5900\n');
    const proxy = await startProxy(['--token-plugin', 'TokenFile', '--token-source', file, '127.0.0.1:0']);
    try {
      for (let i = 0; i < 3; i++) assert.equal(await refusedWith(proxy, 'other'), 404);
      await waitForLines(proxy, /handshake refused: 404/, 3);
      const errors = linesMatching(proxy.output(), /Syntax error/);
      assert.equal(errors.length, 1, proxy.output());
      assert.match(
        errors[0]!,
        new RegExp(`Syntax error in ${escape(file)} on line 2: no ": " \\(a colon and a space\\) after the token; expected "token: host:port"$`),
      );
      assert.doesNotMatch(proxy.output(), /secret-tok-4f1e/);
    } finally {
      await proxy.stop();
    }
  });

  it('under --workers 2 a token-file syntax error is said once at start and once after the file changes, not by every worker', async () => {
    const file = path.join(tmp.dir, 'tokens-workers');
    writeFileSync(file, 'desk1: 127.0.0.1:1\nbroken-a\n');
    const proxy = await startProxy(['--workers', '2', '--token-plugin', 'TokenFile', '--token-source', file, '127.0.0.1:0']);
    try {
      writeFileSync(file, 'desk1: 127.0.0.1:1\n\nbroken-b: x: y\n');
      // Round robin: four connections reach each worker twice, so both have re-read the file.
      for (let i = 0; i < 4; i++) assert.equal(await refusedWith(proxy, 'other'), 404);
      await waitForLines(proxy, /handshake refused: 404/, 4);
      assert.equal(linesMatching(proxy.output(), /Syntax error .* on line 2\b/).length, 1, proxy.output());
      assert.equal(linesMatching(proxy.output(), /Syntax error .* on line 3\b/).length, 1, proxy.output());
      assert.match(linesMatching(proxy.output(), /Syntax error .* on line 3\b/)[0]!, /on line 3: more than one ": "/);
      assert.equal(linesMatching(proxy.output(), /Syntax error/).length, 2, proxy.output());
    } finally {
      await proxy.stop();
    }
  });
});
