/**
 * A real telnet server on an ephemeral loopback port: Debian's inetutils telnetd, started per
 * connection the way inetd does it (the accepted socket becomes its stdin/stdout). Listening in
 * Node on port 0 avoids the pick-a-free-port race a socat listener would have.
 */
import * as net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';

export interface TelnetServer {
  port: number;
  close(): Promise<void>;
}

export async function startTelnetServer(telnetd: string, shell = '/bin/bash --norc --noprofile'): Promise<TelnetServer> {
  const children = new Set<ChildProcess>();
  const server = net.createServer({ pauseOnConnect: true }, (socket) => {
    // -h: no host banner; -E: a shell instead of /bin/login so the test can run commands.
    const child = spawn(telnetd, ['-h', '-E', shell], {
      stdio: [socket, socket, 'ignore'],
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/tmp' },
    });
    children.add(child);
    child.on('exit', () => children.delete(child));
    child.on('error', () => children.delete(child));
    socket.destroy(); // the child holds its own copy of the descriptor
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const c of children) c.kill('SIGKILL');
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
