// The targets the proxies dial, run in their own process so the proxy's CPU is measured alone.
// One TCP port serves every mode; a client picks the mode with the 9-byte header in
// bench-protocol.ts. Started by bench.ts with an IPC channel; prints nothing, answers over IPC.
import { createServer, type Socket } from 'node:net';
import { Mode, MODE_HEADER_BYTES, MiB, type TargetStats } from './bench-protocol.js';

let open = 0;
let accepted = 0;
let sourceQueued = 0;
let sinkReceived = 0;

// One shared block for every source connection: the content does not matter, only the bytes.
const SOURCE_CHUNK = Buffer.alloc(256 * 1024, 0x61);
const TICK = Buffer.from([0x2e]);

function onConnection(socket: Socket): void {
  open += 1;
  accepted += 1;
  socket.setNoDelay(true);
  let header: Buffer = Buffer.alloc(0);
  socket.on('error', () => {});
  socket.once('close', () => {
    open -= 1;
  });
  const onHeaderData = (chunk: Buffer): void => {
    header = header.length === 0 ? chunk : Buffer.concat([header, chunk]);
    if (header.length < MODE_HEADER_BYTES) return;
    socket.off('data', onHeaderData);
    const mode = header[0];
    const count = Number(header.readBigUInt64BE(1));
    const rest = header.subarray(MODE_HEADER_BYTES);
    if (mode === Mode.echo) startEcho(socket, rest);
    else if (mode === Mode.sink) startSink(socket, count, rest);
    else if (mode === Mode.source) startSource(socket, count);
    else socket.destroy();
  };
  socket.on('data', onHeaderData);
}

function startEcho(socket: Socket, rest: Buffer): void {
  // Echo honours backpressure: a client that stops reading stops being read.
  const onData = (chunk: Buffer): void => {
    if (!socket.write(chunk)) {
      socket.pause();
      socket.once('drain', () => socket.resume());
    }
  };
  socket.on('data', onData);
  if (rest.length > 0) onData(rest);
}

function startSink(socket: Socket, count: number, rest: Buffer): void {
  let received = 0;
  const onData = (chunk: Buffer): void => {
    const before = Math.floor(received / MiB);
    received += chunk.length;
    sinkReceived += chunk.length;
    const ticks = Math.floor(Math.min(received, count) / MiB) - before;
    for (let i = 0; i < ticks; i += 1) socket.write(TICK);
  };
  socket.on('data', onData);
  if (rest.length > 0) onData(rest);
}

function startSource(socket: Socket, count: number): void {
  let left = count;
  const pump = (): void => {
    while (left > 0) {
      const n = Math.min(left, SOURCE_CHUNK.length);
      left -= n;
      sourceQueued += n;
      const more = socket.write(n === SOURCE_CHUNK.length ? SOURCE_CHUNK : SOURCE_CHUNK.subarray(0, n));
      if (!more) {
        socket.once('drain', pump);
        return;
      }
    }
  };
  // Reads are ignored but must be consumed so the socket does not stall on its own side.
  socket.on('data', () => {});
  pump();
}

const server = createServer(onConnection);
server.maxConnections = 100_000;
server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no tcp address');
  process.send?.({ type: 'listening', port: address.port });
});

process.on('message', (message: { type: string }) => {
  if (message.type === 'stats') {
    const stats: TargetStats = { type: 'stats', open, accepted, sourceQueued, sinkReceived };
    process.send?.(stats);
  }
});
// The bench going away (even by SIGKILL) closes the channel: never outlive it.
process.on('disconnect', () => process.exit(0));
