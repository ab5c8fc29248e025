import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { CapacityGate } from '../../src/server/connection-registry.js';
import { startInProcessServer } from '../support/in-process-server.js';
import { connect, readHttpAnswer } from '../support/raw-ws.js';
import { closedPort } from '../support/targets.js';

/** A --workers style gate whose answer comes a turn later, as the primary's would. */
function laterGate(): CapacityGate & { asked: number } {
  return {
    asked: 0,
    acquire() {
      this.asked++;
      return new Promise((resolve) => setImmediate(() => resolve(true)));
    },
    release() {},
  };
}

describe('the front door', () => {
  it('keeps the request that came with a PROXY header while the shared --max-connections gate answers', async () => {
    const server = await startInProcessServer([`127.0.0.1:${await closedPort()}`, '--proxy-protocol', '--trust-proxy', '127.0.0.1', '--max-connections', '10']);
    try {
      const gate = laterGate();
      server.server.registry.capacityGate = gate;
      const socket = await connect(server.port);
      // Header and request in one write: the request is already read when the header is parsed.
      socket.write(`PROXY TCP4 203.0.113.9 127.0.0.1 40000 6080\r\nDELETE / HTTP/1.1\r\nHost: x\r\n\r\n`);
      // Before, the front door resumed the socket before the gate answered: the request was
      // read with nobody listening and lost, and the client waited for the handshake deadline.
      const answer = await readHttpAnswer(socket, 2_000);
      assert.equal(answer.status, 405);
      assert.equal(gate.asked, 1);
      const line = server.sink.records.find((r) => r.message === 'code 405, message Method Not Allowed');
      assert.equal(line?.client, '203.0.113.9', 'the client the header named');
      socket.destroy();
    } finally {
      await server.close();
    }
  });
});
