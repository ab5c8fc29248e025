import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * Error responses before the upgrade. The reference answers with Python's HTML error page;
 * we answer with a short text body (no version disclosure) and always close the connection.
 */
function body(status: number, message: string): string {
  return `${status} ${message}\n`;
}

/** For a raw socket (upgrade requests, parse errors): write the response and close. */
export function writeRawHttpError(socket: Duplex, status: number, message: string, headers: Record<string, string> = {}): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const text = body(status, message);
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  socket.end(`${head}\r\n${text}`);
  // A client that does not read its answer must not hold the socket.
  setTimeout(() => socket.destroy(), 2_000).unref();
}

/** For a ServerResponse (plain requests). */
export function sendHttpError(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = body(status, message);
  res.writeHead(status, {
    ...headers,
    Connection: 'close',
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}
