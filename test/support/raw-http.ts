import * as net from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** Every byte the server sent, head and body, for "no outside byte" checks. */
  raw: Buffer;
}

/**
 * Sends one request exactly as written (no client-side path normalisation) and reads until the
 * server closes. `Connection: close` is added unless the caller gives headers of its own.
 */
export function rawRequest(port: number, requestHead: string, host = '127.0.0.1'): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, host, () => socket.write(requestHead));
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer within 5 s')));
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', reject);
    socket.on('close', () => {
      const raw = Buffer.concat(chunks);
      const split = raw.indexOf('\r\n\r\n');
      if (split === -1) {
        resolve({ status: 0, headers: {}, body: Buffer.alloc(0), raw });
        return;
      }
      const lines = raw.subarray(0, split).toString('latin1').split('\r\n');
      const status = Number(lines[0]!.split(' ')[1]);
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status, headers, body: raw.subarray(split + 4), raw });
    });
  });
}

export function get(port: number, target: string, extraHeaders = '', method = 'GET'): Promise<RawResponse> {
  return rawRequest(port, `${method} ${target} HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n${extraHeaders}\r\n`);
}
