import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, it } from 'node:test';
import { ConnectionRegistry } from '../../../src/server/connection-registry.js';

/** A socket the registry can track: destroying it emits 'close' as a real connection's end does. */
function socket(): net.Socket {
  return new net.Socket();
}

async function close(s: net.Socket): Promise<void> {
  const closed = once(s, 'close');
  s.destroy();
  await closed;
}

describe('ConnectionRegistry', () => {
  it("says 'occupied' when the first connection opens and 'empty' when the last closes, and nothing in between", async () => {
    const registry = new ConnectionRegistry();
    const events: string[] = [];
    registry.on('occupied', () => events.push('occupied'));
    registry.on('empty', () => events.push('empty'));
    const a = socket();
    const b = socket();
    registry.trackSocket(a);
    registry.trackSocket(b);
    assert.deepEqual(events, ['occupied']);
    await close(a);
    assert.deepEqual(events, ['occupied'], 'one connection is still open');
    await close(b);
    assert.deepEqual(events, ['occupied', 'empty']);
    const c = socket();
    registry.trackSocket(c);
    await close(c);
    assert.deepEqual(events, ['occupied', 'empty', 'occupied', 'empty']);
  });

  it('whenEmpty() resolves at once with no connection, else when the last one closes', async () => {
    const registry = new ConnectionRegistry();
    await registry.whenEmpty();
    const a = socket();
    registry.trackSocket(a);
    let empty = false;
    const waiting = registry.whenEmpty().then(() => (empty = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(empty, false);
    await close(a);
    await waiting;
    assert.equal(registry.openConnections, 0);
  });
});
