import net from 'node:net';

export interface TcpTarget {
  port: number;
  server: net.Server;
  sockets: Set<net.Socket>;
  close(): Promise<void>;
}

/** A real TCP server on 127.0.0.1 with an ephemeral port. */
export async function startTcpTarget(onConnection: (socket: net.Socket) => void, host = '127.0.0.1'): Promise<TcpTarget> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    server,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export function startEchoTarget(host = '127.0.0.1'): Promise<TcpTarget> {
  return startTcpTarget((socket) => socket.pipe(socket), host);
}

/** A port on which nothing listens (bound then released). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export function ipv6LoopbackAvailable(): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(0, '::1', () => server.close(() => resolve(true)));
  });
}

/**
 * Writes `chunk` over and over until `total` bytes are written, honouring backpressure;
 * `progress` gets the bytes handed to the socket so far.
 */
export function writeRepeated(socket: net.Socket, chunk: Buffer, total: number, progress: (bytes: number) => void, onDone?: () => void): void {
  let written = 0;
  const pump = (): void => {
    while (written < total) {
      written += chunk.length;
      progress(written);
      if (!socket.write(chunk)) return void socket.once('drain', pump);
    }
    onDone?.();
  };
  pump();
}
