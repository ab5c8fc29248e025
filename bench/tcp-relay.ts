// The floor: a plain Node TCP relay with the same job as the proxy minus WebSocket, so the
// bench shows what the framing and the proxy's own work cost on top of moving bytes in Node.
// Usage: node dist/bench/tcp-relay.js TARGET_PORT; prints "relay listening on 127.0.0.1:PORT".
import { createConnection, createServer, type Socket } from 'node:net';

const targetPort = Number(process.argv[2]);
if (!Number.isInteger(targetPort) || targetPort <= 0) {
  process.stderr.write('usage: tcp-relay TARGET_PORT\n');
  process.exit(2);
}

function onClient(client: Socket): void {
  client.setNoDelay(true);
  const target = createConnection({ host: '127.0.0.1', port: targetPort });
  target.setNoDelay(true);
  // pipe() pauses the source while the destination's buffer is full: the same backpressure rule
  // the proxy follows, so the floor is not faster by buffering without bound.
  client.pipe(target);
  target.pipe(client);
  const closeBoth = (): void => {
    client.destroy();
    target.destroy();
  };
  client.on('error', closeBoth);
  target.on('error', closeBoth);
  client.on('close', closeBoth);
  target.on('close', closeBoth);
}

const server = createServer(onClient);
server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no tcp address');
  process.stdout.write(`relay listening on 127.0.0.1:${address.port}\n`);
});
