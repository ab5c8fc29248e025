import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import type { LogRecord } from '../../src/log/logger.js';
import { startInProcessServer, type InProcessServer } from '../support/in-process-server.js';
import { connect, readHttpAnswer, readToEnd, sendRaw, upgradeRequest } from '../support/raw-ws.js';
import { closedPort } from '../support/targets.js';
import { waitFor } from '../support/wait.js';

/** The records a step wrote that carry an error code: a refusal's one line. */
function refusalLines(server: InProcessServer, from: number): LogRecord[] {
  return server.sink.records.slice(from).filter((r) => r.fields?.['code'] !== undefined);
}

function assertOneLine(server: InProcessServer, from: number, code: string, message: RegExp): LogRecord {
  const lines = refusalLines(server, from);
  assert.equal(lines.length, 1, JSON.stringify(lines));
  const line = lines[0]!;
  assert.equal(line.fields?.['code'], code);
  assert.match(line.message, message);
  assert.equal(typeof line.session, 'number', `no connection id on ${JSON.stringify(line)}`);
  assert.ok(line.client, `no client on ${JSON.stringify(line)}`);
  return line;
}

describe('every refusal: one log line with the connection id, one count, the answer its status asks for', () => {
  let server: InProcessServer;
  before(async () => {
    server = await startInProcessServer([`127.0.0.1:${await closedPort()}`]);
  });
  after(() => server.close());

  const cases: Array<{ what: string; request: string; status: number; code: string; line: RegExp; reason: string | null }> = [
    { what: 'garbage', request: 'hello there\r\n\r\n', status: 400, code: 'WSFY_ERR_HANDSHAKE', line: /^bad request: 400 Bad Request$/, reason: 'bad_request' },
    {
      what: 'DELETE',
      request: 'DELETE /x HTTP/1.1\r\nHost: x\r\n\r\n',
      status: 405,
      code: 'WSFY_ERR_METHOD',
      line: /^code 405, message Method Not Allowed$/,
      reason: null,
    },
    {
      what: 'an upgrade without Connection: Upgrade',
      request: upgradeRequest({ omit: ['Connection'] }),
      status: 400,
      code: 'WSFY_ERR_HANDSHAKE',
      line: /^bad request: 400 WebSocket upgrade without Connection: Upgrade$/,
      reason: 'connection_header',
    },
    {
      what: 'an Upgrade other than websocket',
      request: upgradeRequest({ headers: { Upgrade: 'h2c' } }),
      status: 400,
      code: 'WSFY_ERR_HANDSHAKE',
      line: /^bad request: 400 unsupported Upgrade header$/,
      reason: 'upgrade_header',
    },
    {
      what: 'an over-long URI',
      request: upgradeRequest({ path: `/${'a'.repeat(9000)}` }),
      status: 414,
      code: 'WSFY_ERR_URI_TOO_LONG',
      line: /^bad request: 414 URI Too Long$/,
      reason: 'uri_too_long',
    },
    {
      what: 'another WebSocket version',
      request: upgradeRequest({ headers: { 'Sec-WebSocket-Version': '99' } }),
      status: 426,
      code: 'WSFY_ERR_VERSION',
      line: /^handshake refused: 426 Unsupported protocol version 99$/,
      reason: 'version',
    },
    {
      what: 'no protocol we speak',
      request: upgradeRequest({ headers: { 'Sec-WebSocket-Protocol': 'chat' } }),
      status: 400,
      code: 'WSFY_ERR_PROTOCOL_SELECT',
      line: /^handshake refused: 400 Invalid protocol selected$/,
      reason: 'protocol_select',
    },
  ];
  for (const c of cases) {
    it(`${c.what}: ${c.status}`, async () => {
      const from = server.sink.records.length;
      const counted = server.refusals.length;
      const answer = await sendRaw(server.port, c.request);
      assert.equal(answer.status, c.status);
      assert.equal(answer.headers['connection'], 'close');
      await readToEnd(answer.socket);
      assertOneLine(server, from, c.code, c.line);
      assert.deepEqual(server.refusals.slice(counted), c.reason === null ? [] : [c.reason]);
    });
  }

  it('an upgrade after the server stopped accepting: 503 "Server shutting down", and now a line for it', async () => {
    const registry = server.server.registry;
    await waitFor(() => registry.openConnections === 0, { what: 'the earlier connections to close' });
    const socket = await connect(server.port);
    const request = upgradeRequest();
    // Accepted while the server still accepts; the request completes after it stopped.
    socket.write(request.slice(0, 20));
    await waitFor(() => registry.openConnections === 1, { what: 'the server to accept the connection' });
    const from = server.sink.records.length;
    // Resolves only once every connection is gone: not awaited, as main.ts does on SIGTERM.
    const stopped = server.server.stopAccepting();
    socket.write(request.slice(20));
    const answer = await readHttpAnswer(socket);
    assert.equal(answer.status, 503);
    await readToEnd(socket);
    assertOneLine(server, from, 'WSFY_ERR_CAPACITY', /^handshake refused: 503 Server shutting down$/);
    assert.equal(server.refusals.at(-1), 'shutting_down');
    await stopped;
  });
});

describe('refusals at accept carry the connection id too', () => {
  it('--max-connections: the 503 line names the refused connection', async () => {
    const server = await startInProcessServer([`127.0.0.1:${await closedPort()}`, '--max-connections', '1']);
    try {
      const held = await connect(server.port);
      held.write('GET / HTTP/1.1\r\n');
      await waitFor(() => server.server.registry.openConnections === 1, { what: 'the first connection to hold the one slot' });
      const from = server.sink.records.length;
      const answer = await sendRaw(server.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal(answer.status, 503);
      assert.equal(answer.headers['retry-after'], '1');
      await readToEnd(answer.socket);
      const line = assertOneLine(server, from, 'WSFY_ERR_CAPACITY', /^connection refused: limit of 1 open connections reached$/);
      assert.equal(line.level, 'warn');
      assert.deepEqual(server.refusals, ['capacity']);
      held.destroy();
    } finally {
      await server.close();
    }
  });

  it('--proxy-protocol: a connection without a PROXY header is refused in a line with its id (it had none)', async () => {
    const server = await startInProcessServer([`127.0.0.1:${await closedPort()}`, '--proxy-protocol', '--trust-proxy', '127.0.0.1']);
    try {
      const from = server.sink.records.length;
      const socket = await connect(server.port);
      socket.write(upgradeRequest());
      assert.equal((await readToEnd(socket)).length, 0, 'no answer before the PROXY header');
      assertOneLine(server, from, 'WSFY_ERR_PROXY_PROTOCOL', /^connection refused: connection did not start with a PROXY protocol header$/);
      assert.deepEqual(server.refusals, ['proxy_protocol']);
    } finally {
      await server.close();
    }
  });
});
