import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { buildProxyV2Header } from '../../src/server/proxy-protocol.js';
import { startProxy, type ProxyProcess } from '../support/proxy-process.js';
import { sendRaw, upgradeRequest, type HttpAnswer } from '../support/raw-ws.js';
import { startEchoTarget, type TcpTarget } from '../support/targets.js';

/*
 * Raw PROXY headers from a trusted "balancer" (this test, on 127.0.0.1) in front of the real CLI.
 * A header that names no client (v1 UNKNOWN, v2 LOCAL) must not hand the client's own
 * X-Forwarded-For the authority of a trusted proxy.
 */

function jsonLines(output: string): Array<Record<string, unknown>> {
  return output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function upgradeWith(header: Buffer, forwardedFor: string): Buffer {
  return Buffer.concat([header, Buffer.from(upgradeRequest({ headers: { 'X-Forwarded-For': forwardedFor } }))]);
}

describe('--proxy-protocol: the client address after a header without a source', () => {
  let target: TcpTarget;
  const proxies: ProxyProcess[] = [];
  const open: HttpAnswer[] = [];

  before(async () => {
    target = await startEchoTarget();
  });
  after(async () => {
    for (const a of open) a.socket.destroy();
    await Promise.all(proxies.map((p) => p.stop()));
    await target.close();
  });

  async function proxy(): Promise<ProxyProcess> {
    const p = await startProxy([
      '--log-format',
      'json',
      '--proxy-protocol',
      '--trust-proxy',
      '127.0.0.1',
      '--max-sessions-per-ip',
      '1',
      '127.0.0.1:0',
      `127.0.0.1:${target.port}`,
    ]);
    proxies.push(p);
    return p;
  }

  const cases: Array<[string, Buffer]> = [
    ['v1 UNKNOWN', Buffer.from('PROXY UNKNOWN\r\n')],
    ['v2 LOCAL', buildProxyV2Header(null, null)],
  ];
  for (const [name, header] of cases) {
    it(`${name}: X-Forwarded-For written by the client is ignored; the balancer's connection is the client`, async () => {
      const p = await proxy();
      const first = await sendRaw(p.port, upgradeWith(header, '6.6.6.6'));
      open.push(first);
      assert.equal(first.status, 101);
      // Another forged address must not buy a second slot under --max-sessions-per-ip 1.
      const second = await sendRaw(p.port, upgradeWith(header, '7.7.7.7'));
      open.push(second);
      assert.equal(second.status, 429);
      first.socket.destroy();
      await p.waitForOutput(/"msg":"session closed"/);
      const output = p.output();
      assert.ok(!output.includes('6.6.6.6') && !output.includes('7.7.7.7'), `a forged address was believed:\n${output}`);
      const summary = jsonLines(output).find((r) => r.msg === 'session closed')!;
      assert.equal(summary.peer, '127.0.0.1');
      assert.equal(summary.client, undefined, 'no address other than the peer was believed');
    });
  }

  it("a header naming the client still decides it (and that client's own X-Forwarded-For is ignored)", async () => {
    const p = await proxy();
    const answer = await sendRaw(p.port, upgradeWith(Buffer.from('PROXY TCP4 198.51.100.9 127.0.0.1 5555 80\r\n'), '6.6.6.5'));
    open.push(answer);
    assert.equal(answer.status, 101);
    answer.socket.destroy();
    const line = await p.waitForOutput(/"msg":"session closed"/);
    assert.equal((JSON.parse(line) as Record<string, unknown>).peer, '198.51.100.9');
    assert.ok(!p.output().includes('6.6.6.5'));
  });
});
