import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startProxy, type ProxyProcess } from '../support/proxy-process.js';
import { readToEnd, sendRaw, upgradeRequest } from '../support/raw-ws.js';
import { startEchoTarget, startTcpTarget, type TcpTarget } from '../support/targets.js';
import { openClient, receiveBytes } from '../support/ws-client.js';

describe('answers before the upgrade', () => {
  let echo: TcpTarget;
  let proxy: ProxyProcess;
  before(async () => {
    echo = await startEchoTarget();
    proxy = await startProxy(['127.0.0.1:0', `127.0.0.1:${echo.port}`, '--max-headers', '20', '--max-header-size', '4K']);
  });
  after(async () => {
    await proxy.stop();
    await echo.close();
  });

  async function status(request: string): Promise<number> {
    const answer = await sendRaw(proxy.port, request);
    answer.socket.destroy();
    return answer.status;
  }

  it('answers 101 with the RFC accept value and the reference header set', async () => {
    const answer = await sendRaw(
      proxy.port,
      upgradeRequest({ headers: { 'Sec-WebSocket-Key': 'DKURYVK9cRFul1vOZVA56Q==', 'Sec-WebSocket-Protocol': 'binary' } }),
    );
    answer.socket.destroy();
    assert.equal(answer.statusLine, 'HTTP/1.1 101 Switching Protocols');
    assert.equal(answer.headers['upgrade'], 'websocket');
    assert.equal(answer.headers['connection'], 'Upgrade');
    assert.equal(answer.headers['sec-websocket-accept'], 'pczpYSQsvE1vBpTQYjFQPcuoj6M=');
    assert.equal(answer.headers['sec-websocket-protocol'], 'binary');
  });

  it('answers 101 without a protocol header when none is offered', async () => {
    const answer = await sendRaw(proxy.port, upgradeRequest());
    answer.socket.destroy();
    assert.equal(answer.status, 101);
    assert.equal(answer.headers['sec-websocket-protocol'], undefined);
  });

  it('selects binary from any offer containing it, spaces trimmed, and refuses unknown protocols with 400', async () => {
    for (const offer of ['binary', 'binary, base64', 'binary,base64', 'base64, binary']) {
      const answer = await sendRaw(proxy.port, upgradeRequest({ headers: { 'Sec-WebSocket-Protocol': offer } }));
      answer.socket.destroy();
      assert.equal(answer.status, 101, offer);
      assert.equal(answer.headers['sec-websocket-protocol'], 'binary', offer);
    }
    assert.equal(await status(upgradeRequest({ headers: { 'Sec-WebSocket-Protocol': 'foo' } })), 400);
  });

  it('answers 400 for a missing or malformed key and a missing version, 426 for another version', async () => {
    assert.equal(await status(upgradeRequest({ omit: ['Sec-WebSocket-Key'] })), 400);
    assert.equal(await status(upgradeRequest({ headers: { 'Sec-WebSocket-Key': '!!!' } })), 400);
    assert.equal(await status(upgradeRequest({ omit: ['Sec-WebSocket-Version'] })), 400);
    const answer = await sendRaw(proxy.port, upgradeRequest({ headers: { 'Sec-WebSocket-Version': '12' } }));
    answer.socket.destroy();
    assert.equal(answer.status, 426);
    assert.equal(answer.headers['sec-websocket-version'], '13');
  });

  it('answers 405 to GET/HEAD without --web and to other known methods, 501 to unknown ones', async () => {
    for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
      assert.equal(await status(`${method} / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`), 405, method);
    }
    assert.equal(
      await status(
        'POST / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      ),
      405,
    );
    assert.equal(await status('FOO / HTTP/1.1\r\nHost: x\r\n\r\n'), 501);
    assert.equal(await status('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'), 501);
  });

  it('answers 400 to garbage and to an upgrade without Connection: Upgrade', async () => {
    assert.equal(await status('garbage\r\n\r\n'), 400);
    assert.equal(await status(upgradeRequest({ headers: { Connection: 'keep-alive' } })), 400);
  });

  it('answers 414 to an over-long URI and 431 to too many or too large headers', async () => {
    assert.equal(await status(upgradeRequest({ path: '/' + 'a'.repeat(3500) })), 414);
    const many: Record<string, string> = {};
    for (let i = 0; i < 25; i++) many[`X-H${i}`] = 'v';
    assert.equal(await status(upgradeRequest({ headers: many })), 431);
    assert.equal(await status(upgradeRequest({ headers: { 'X-Big': 'b'.repeat(5000) } })), 431);
  });

  it('survives the ws header-flood shape (CVE-2024-37890) and keeps serving', async () => {
    const junk = Array.from({ length: 2100 }, (_, i) => `x${i}: y`).join('\r\n');
    const socket = (
      await sendRaw(
        proxy.port,
        `GET / HTTP/1.1\r\n${junk}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      )
    ).socket;
    socket.destroy();
    const ws = await openClient(`ws://127.0.0.1:${proxy.port}/`);
    ws.close();
  });

  it('closes after an error answer and writes one log line for it', async () => {
    const answer = await sendRaw(proxy.port, 'DELETE /x HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(answer.headers['connection'], 'close');
    await readToEnd(answer.socket);
    await proxy.waitForOutput(/code 405, message Method Not Allowed/);
  });

  it('never writes the token of a request path into the log', async () => {
    const ws = await openClient(`ws://127.0.0.1:${proxy.port}/websockify?token=s3cr3t-value&x=1`);
    ws.close();
    await proxy.waitForOutput(/Path: '\/websockify\?token=\[redacted\]&x=1'/);
    assert.equal(proxy.output().includes('s3cr3t-value'), false);
  });
});

describe('a handshake ws would refuse never reaches the target', () => {
  let accepted = 0;
  let target: TcpTarget;
  let proxy: ProxyProcess;
  before(async () => {
    target = await startTcpTarget((socket) => {
      accepted++;
      socket.write(`connection ${accepted}`);
    });
    proxy = await startProxy(['127.0.0.1:0', `127.0.0.1:${target.port}`]);
  });
  after(async () => {
    await proxy.stop();
    await target.close();
  });

  // Each of these passed the old check and was refused by ws inside handleUpgrade, after the
  // target had been dialled.
  const refused: Array<[string, Record<string, string>]> = [
    ['an empty subprotocol element', { 'Sec-WebSocket-Protocol': 'binary,,' }],
    ['a trailing comma', { 'Sec-WebSocket-Protocol': 'binary,' }],
    ['a leading comma', { 'Sec-WebSocket-Protocol': ',binary' }],
    ['a duplicated subprotocol', { 'Sec-WebSocket-Protocol': 'binary,binary' }],
    ['an empty Sec-WebSocket-Protocol header', { 'Sec-WebSocket-Protocol': '' }],
    ['a subprotocol with a separator character', { 'Sec-WebSocket-Protocol': 'binary;v=1' }],
    ['a quoted subprotocol', { 'Sec-WebSocket-Protocol': '"binary"' }],
    ['a malformed key', { 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ' }],
  ];
  for (const [what, headers] of refused) {
    it(`answers 400 to ${what} without dialling`, async () => {
      const answer = await sendRaw(proxy.port, upgradeRequest({ headers }));
      answer.socket.destroy();
      assert.equal(answer.status, 400);
    });
  }

  it('has dialled nothing for any of them (a good upgrade afterwards is the first connection)', async () => {
    const ws = await openClient(`ws://127.0.0.1:${proxy.port}/`);
    // The target greets each connection with its number. Dials are started in order of
    // admission and accepted in order, so a dial made for any refused request would make the
    // good session's greeting `connection 2` or later.
    const greeting = await receiveBytes(ws, 'connection 1'.length);
    ws.close();
    assert.equal(greeting.toString(), 'connection 1');
    assert.equal(accepted, 1);
  });
});
