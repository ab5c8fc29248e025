import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { WebSocket } from 'ws';
import { startProxy, type ProxyProcess } from '../support/proxy-process.js';
import { startEchoTarget, type TcpTarget } from '../support/targets.js';
import { tempDir } from '../support/temp-dir.js';
import { closeEvent, openClient, receiveBytes } from '../support/ws-client.js';
import { waitFor } from '../support/wait.js';

/**
 * --max-sessions-per-ip and --max-sessions-per-token under --workers are the server's caps,
 * not each worker's: the round robin puts consecutive sessions on different workers, and the
 * session past the cap is refused wherever it lands.
 */

const TWO = ['--workers', '2'];

/** Session ids from the `  N: connecting to:` lines, in order of appearance. */
function sessionIds(output: string): number[] {
  return [...output.matchAll(/\]\s+(\d+): connecting to:/g)].map((m) => Number(m[1]));
}

/** pid of each `worker K of N serving (pid P)` line, by K (the latest line wins). */
function workerPids(output: string): Map<number, number> {
  const pids = new Map<number, number>();
  for (const m of output.matchAll(/worker (\d+) of \d+ serving \(pid (\d+)\)/g)) pids.set(Number(m[1]), Number(m[2]));
  return pids;
}

function count(output: string, pattern: RegExp): number {
  return output.match(new RegExp(pattern.source, 'g'))?.length ?? 0;
}

/** An open session that echoes (so it is past admission and counted). */
async function session(proxy: ProxyProcess, url: string): Promise<WebSocket> {
  const seen = sessionIds(proxy.output()).length;
  const ws = await openClient(url);
  const back = receiveBytes(ws, 2);
  ws.send(Buffer.from('hi'));
  assert.equal((await back).toString(), 'hi');
  await waitFor(() => sessionIds(proxy.output()).length > seen, { intervalMs: 50, what: 'the session line' });
  return ws;
}

async function close(ws: WebSocket): Promise<void> {
  const closed = closeEvent(ws);
  ws.close(1000);
  await closed;
}

/**
 * Holds `cap` sessions, which the round robin spreads over both workers, checks that the next
 * ones are refused with 429 on both workers, then that a slot freed by closing one session is
 * taken again, and only one.
 */
async function checkServerWideCap(proxy: ProxyProcess, url: string, refusal: RegExp, whileFull?: () => Promise<void>): Promise<void> {
  const cap = 2;
  const held: WebSocket[] = [];
  for (let i = 0; i < cap; i++) held.push(await session(proxy, url));
  const ids = sessionIds(proxy.output());
  assert.ok(ids.some((id) => id % 2 === 1) && ids.some((id) => id % 2 === 0), `the sessions landed on one worker only: ${ids.join(',')}`);

  // Two more attempts: the round robin gives one to each worker; both are past the server's cap.
  for (let i = 0; i < 2; i++) await assert.rejects(openClient(url), /HTTP 429/);
  await waitFor(() => count(proxy.output(), refusal) === 2, { intervalMs: 50, what: 'two refusal lines' });

  await close(held.shift()!);
  // The freed slot comes back once the worker has ended the session and told the primary.
  const again = await waitFor(
    () =>
      openClient(url).catch((err: Error) => {
        assert.match(err.message, /HTTP 429/);
        return null;
      }),
    { timeoutMs: 5_000, what: 'the freed slot to come back' },
  );
  held.push(again);
  await assert.rejects(openClient(url), /HTTP 429/, 'the cap holds again once the slot is taken');
  await whileFull?.();
  for (const ws of held) await close(ws);
}

describe('--workers 2: per-address and per-token caps count for the whole server', () => {
  let echo: TcpTarget;
  let tmp: ReturnType<typeof tempDir>;
  before(async () => {
    echo = await startEchoTarget();
    tmp = tempDir('wsfy-workers-limits-');
    writeFileSync(path.join(tmp.dir, 'tokens.cfg'), `desk: 127.0.0.1:${echo.port}\nother: 127.0.0.1:${echo.port}\n`);
  });
  after(async () => {
    await echo.close();
    tmp.cleanup();
  });

  it('refuses the third session from one address with 429 although the first two are on different workers', async () => {
    const proxy = await startProxy([...TWO, '--max-sessions-per-ip', '2', '127.0.0.1:0', `127.0.0.1:${echo.port}`]);
    try {
      await proxy.waitForOutput(/worker 2 of 2 serving/);
      await checkServerWideCap(proxy, `ws://127.0.0.1:${proxy.port}/`, /handshake refused: 429 too many sessions from this address \(limit 2\)/);
    } finally {
      await proxy.stop();
    }
  });

  it('refuses the third session for one token with 429 across workers; another token is not affected', async () => {
    const proxy = await startProxy([...TWO, '--max-sessions-per-token', '2', '--token-plugin', 'TokenFile', '--token-source', 'tokens.cfg', '127.0.0.1:0'], {
      cwd: tmp.dir,
    });
    try {
      await proxy.waitForOutput(/worker 2 of 2 serving/);
      const url = `ws://127.0.0.1:${proxy.port}/?token=desk`;
      const other = `ws://127.0.0.1:${proxy.port}/?token=other`;
      await checkServerWideCap(proxy, url, /handshake refused: 429 too many sessions for this token \(limit 2\)/, async () => {
        const others = [await session(proxy, other), await session(proxy, other)];
        for (const ws of others) await close(ws);
      });
      assert.doesNotMatch(proxy.output(), /desk/, 'no token in the log');
    } finally {
      await proxy.stop();
    }
  });

  it('gives back the slots of a worker that dies, and no more', async () => {
    const proxy = await startProxy([...TWO, '--max-sessions-per-ip', '2', '127.0.0.1:0', `127.0.0.1:${echo.port}`]);
    try {
      await proxy.waitForOutput(/worker 2 of 2 serving/);
      const url = `ws://127.0.0.1:${proxy.port}/`;
      const held = [await session(proxy, url), await session(proxy, url)];
      await assert.rejects(openClient(url), /HTTP 429/);
      const victim = workerPids(proxy.output()).get(1)!;
      const lost = Promise.race(held.map((ws, i) => closeEvent(ws).then((c) => ({ i, code: c.code }))));
      process.kill(victim, 'SIGKILL');
      const { i, code } = await lost;
      assert.equal(code, 1006);
      await waitFor(() => (workerPids(proxy.output()).get(1) ?? victim) !== victim, { timeoutMs: 10_000, intervalMs: 50, what: 'worker 1 restarted' });
      // The dead worker's slot is free; the survivor's is still held.
      const again = await session(proxy, url);
      await assert.rejects(openClient(url), /HTTP 429/);
      await assert.rejects(openClient(url), /HTTP 429/);
      for (const ws of [held[1 - i]!, again]) await close(ws);
    } finally {
      await proxy.stop();
    }
  });
});
