import { isIP, type Socket } from 'node:net';
import { WebsockifyError } from '../errors.js';

/**
 * The PROXY protocol (haproxy.org/download/2.6/doc/proxy-protocol.txt), versions 1 and 2: a
 * trusted load balancer in front of us prepends the real client's address to the TCP stream.
 * We read it before anything else (before the TLS sniff), and we can send a v2 header to the
 * target so a VNC server behind us sees the real client too.
 */
interface ProxyEndpoint {
  address: string;
  port: number;
}

export interface ProxyHeader {
  version: 1 | 2;
  /** null for v1 `UNKNOWN`, v2 `LOCAL` or a family we do not map (unix): use the socket peer. */
  source: ProxyEndpoint | null;
  destination: ProxyEndpoint | null;
}

export class ProxyProtocolError extends WebsockifyError {
  constructor(message: string) {
    super('WSFY_ERR_PROXY_PROTOCOL', message);
  }
}

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** The spec's v1 maximum, CRLF included. */
const V1_MAX = 107;
/** v2 allows up to 65535 bytes of addresses and TLVs; we accept the addresses plus modest TLVs. */
const V2_MAX_PAYLOAD = 2048;

type Parse = { header: ProxyHeader; length: number } | 'more';

/** Parses a header at the start of `buf`; 'more' when it is a valid prefix but incomplete. */
export function parseProxyHeader(buf: Buffer): Parse {
  const sigLen = Math.min(buf.length, V2_SIGNATURE.length);
  if (sigLen > 0 && buf.subarray(0, sigLen).equals(V2_SIGNATURE.subarray(0, sigLen))) {
    return buf.length < 16 ? 'more' : parseV2(buf);
  }
  const v1Prefix = 'PROXY ';
  const head = buf.subarray(0, Math.min(buf.length, v1Prefix.length)).toString('latin1');
  if (head === v1Prefix.slice(0, head.length)) {
    const end = buf.indexOf('\r\n');
    if (end === -1) {
      if (buf.length >= V1_MAX) throw new ProxyProtocolError('PROXY v1 header longer than 107 bytes');
      return 'more';
    }
    if (end + 2 > V1_MAX) throw new ProxyProtocolError('PROXY v1 header longer than 107 bytes');
    return { header: parseV1(buf.subarray(0, end).toString('latin1')), length: end + 2 };
  }
  throw new ProxyProtocolError('connection did not start with a PROXY protocol header');
}

function parseV1(line: string): ProxyHeader {
  const parts = line.split(' ');
  if (parts[1] === 'UNKNOWN') return { version: 1, source: null, destination: null };
  if (parts.length !== 6 || (parts[1] !== 'TCP4' && parts[1] !== 'TCP6')) {
    throw new ProxyProtocolError('malformed PROXY v1 header');
  }
  const family = parts[1] === 'TCP4' ? 4 : 6;
  const [, , src, dst, sport, dport] = parts as [string, string, string, string, string, string];
  if (isIP(src) !== family || isIP(dst) !== family) throw new ProxyProtocolError('bad address in PROXY v1 header');
  return { version: 1, source: { address: src, port: v1Port(sport) }, destination: { address: dst, port: v1Port(dport) } };
}

function v1Port(text: string): number {
  if (!/^(0|[1-9]\d{0,4})$/.test(text) || Number(text) > 65535) throw new ProxyProtocolError('bad port in PROXY v1 header');
  return Number(text);
}

function parseV2(buf: Buffer): Parse {
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) throw new ProxyProtocolError('unsupported PROXY v2 version');
  const command = verCmd & 0x0f;
  if (command > 1) throw new ProxyProtocolError('unsupported PROXY v2 command');
  const famProto = buf[13]!;
  const len = buf.readUInt16BE(14);
  if (len > V2_MAX_PAYLOAD) throw new ProxyProtocolError(`PROXY v2 header larger than ${V2_MAX_PAYLOAD} bytes`);
  if (buf.length < 16 + len) return 'more';
  const body = buf.subarray(16, 16 + len);
  const result = { length: 16 + len };
  // LOCAL (health checks from the balancer itself): the socket peer is the real peer.
  if (command === 0) return { ...result, header: { version: 2, source: null, destination: null } };
  const family = famProto >> 4;
  if (family === 1) {
    if (len < 12) throw new ProxyProtocolError('short PROXY v2 IPv4 address block');
    return {
      ...result,
      header: {
        version: 2,
        source: { address: ipv4(body.subarray(0, 4)), port: body.readUInt16BE(8) },
        destination: { address: ipv4(body.subarray(4, 8)), port: body.readUInt16BE(10) },
      },
    };
  }
  if (family === 2) {
    if (len < 36) throw new ProxyProtocolError('short PROXY v2 IPv6 address block');
    return {
      ...result,
      header: {
        version: 2,
        source: { address: ipv6(body.subarray(0, 16)), port: body.readUInt16BE(32) },
        destination: { address: ipv6(body.subarray(16, 32)), port: body.readUInt16BE(34) },
      },
    };
  }
  // AF_UNSPEC or AF_UNIX: no IP address to report.
  return { ...result, header: { version: 2, source: null, destination: null } };
}

function ipv4(b: Buffer): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

function ipv6(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // Canonical form: compress the longest run of zero groups (RFC 5952).
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best === -1) return groups.join(':');
  const left = groups.slice(0, best).join(':');
  const right = groups.slice(best + bestLen).join(':');
  const text = `${left}::${right}`;
  // IPv4-mapped: show as ::ffff:a.b.c.d like node:net does.
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(text);
  if (mapped) {
    const hi = parseInt(mapped[1]!, 16);
    const lo = parseInt(mapped[2]!, 16);
    return `::ffff:${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return text;
}

/**
 * Reads a PROXY header from a fresh socket, then puts back any bytes that followed it, so the
 * TLS sniff and HTTP parser see the stream as if the header had never been there. Rejects on a
 * malformed or oversized header, or when `timeoutMs` passes first.
 */
function readProxyHeader(socket: Socket, timeoutMs: number): Promise<ProxyHeader> {
  return new Promise<ProxyHeader>((resolve, reject) => {
    let buffered: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new ProxyProtocolError('timed out waiting for the PROXY protocol header')), timeoutMs);
    function finish(err: Error | null, header?: ProxyHeader, rest?: Buffer): void {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
      socket.pause();
      if (err) return reject(err);
      if (rest && rest.length > 0) socket.unshift(rest);
      resolve(header!);
    }
    function onData(chunk: Buffer): void {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      let parsed: Parse;
      try {
        parsed = parseProxyHeader(buffered);
      } catch (err) {
        return finish(err as Error);
      }
      if (parsed !== 'more') finish(null, parsed.header, buffered.subarray(parsed.length));
    }
    function onEnd(): void {
      finish(new ProxyProtocolError('connection closed before the PROXY protocol header'));
    }
    function onError(err: Error): void {
      finish(err);
    }
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
  });
}

function ipv4Bytes(address: string): Buffer {
  return Buffer.from(address.split('.').map(Number));
}

function ipv6Bytes(address: string): Buffer {
  let text = address;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = ipv4Bytes(v4[1]!);
    text = text.slice(0, -v4[1]!.length) + `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, null];
  const h = head === '' ? [] : head.split(':');
  const t = tail === null || tail === '' ? [] : tail.split(':');
  const groups = tail === null ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function toV6(address: string): string {
  return isIP(address) === 4 ? `::ffff:${address}` : address;
}

/**
 * A PROXY v2 header for the target (`--send-proxy-v2`). With no usable source (unix peers) it
 * is a LOCAL header, which the receiver treats as "use the connection's own addresses". Mixed
 * families are sent as IPv6, IPv4 mapped.
 */
export function buildProxyV2Header(source: ProxyEndpoint | null, destination: ProxyEndpoint | null): Buffer {
  const head = Buffer.alloc(16);
  V2_SIGNATURE.copy(head, 0);
  if (!source || !destination || isIP(source.address) === 0 || isIP(destination.address) === 0) {
    head[12] = 0x20; // v2, LOCAL
    head[13] = 0x00; // AF_UNSPEC
    head.writeUInt16BE(0, 14);
    return head;
  }
  head[12] = 0x21; // v2, PROXY
  const bothV4 = isIP(source.address) === 4 && isIP(destination.address) === 4;
  let body: Buffer;
  if (bothV4) {
    head[13] = 0x11; // AF_INET, STREAM
    body = Buffer.alloc(12);
    ipv4Bytes(source.address).copy(body, 0);
    ipv4Bytes(destination.address).copy(body, 4);
    body.writeUInt16BE(source.port, 8);
    body.writeUInt16BE(destination.port, 10);
  } else {
    head[13] = 0x21; // AF_INET6, STREAM
    body = Buffer.alloc(36);
    ipv6Bytes(toV6(source.address)).copy(body, 0);
    ipv6Bytes(toV6(destination.address)).copy(body, 16);
    body.writeUInt16BE(source.port, 32);
    body.writeUInt16BE(destination.port, 34);
  }
  head.writeUInt16BE(body.length, 14);
  return Buffer.concat([head, body]);
}

/**
 * The listener side of `--proxy-protocol`: only a trusted peer may send a header (anyone else
 * could claim any address), and a trusted peer must send one (the spec forbids guessing).
 * Resolves with the header; the caller closes the socket on rejection and logs the reason.
 */
export async function acceptProxyProtocol(socket: Socket, isTrusted: (address: string | undefined) => boolean, timeoutMs: number): Promise<ProxyHeader> {
  if (!isTrusted(socket.remoteAddress)) {
    throw new ProxyProtocolError(`PROXY protocol refused from untrusted peer ${socket.remoteAddress ?? 'unix'}`);
  }
  return readProxyHeader(socket, timeoutMs);
}
