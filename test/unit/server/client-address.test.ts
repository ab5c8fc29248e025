import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { bareAddress, resolveClientAddress } from '../../../src/server/client-address.js';
import { buildProxyV2Header, parseProxyHeader, ProxyProtocolError } from '../../../src/server/proxy-protocol.js';
import { TrustedProxies } from '../../../src/server/trusted-proxies.js';

const trusted = new TrustedProxies(['127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8']);

test('trusted proxies match IPv4 and IPv6 CIDRs and IPv4-mapped addresses', () => {
  assert.equal(trusted.isTrusted('10.1.2.3'), true);
  assert.equal(trusted.isTrusted('11.0.0.1'), false);
  assert.equal(trusted.isTrusted('::ffff:10.9.9.9'), true);
  assert.equal(trusted.isTrusted('fd12::1'), true);
  assert.equal(trusted.isTrusted('fe80::1'), false);
  assert.equal(trusted.isTrusted(''), false);
  assert.equal(new TrustedProxies(['unix']).isTrusted(''), true);
  assert.throws(() => new TrustedProxies(['10.0.0.0/33']), /bad prefix length/);
  assert.throws(() => new TrustedProxies(['example.com']), /not an IP address or CIDR/);
});

test('X-Forwarded-For from an untrusted peer is ignored: the peer address stays the client', () => {
  const got = resolveClientAddress('203.0.113.50', { 'x-forwarded-for': '1.2.3.4', 'x-real-ip': '1.2.3.4', forwarded: 'for=1.2.3.4' }, trusted);
  assert.deepEqual(got, { address: '203.0.113.50', via: 'peer' });
});

test('X-Forwarded-For from a trusted peer gives the rightmost untrusted hop, not a spoofed left entry', () => {
  // The client forged "6.6.6.6"; nginx (10.0.0.2) appended the real client 198.51.100.9; the
  // inner proxy 10.0.0.3 appended 10.0.0.2.
  const got = resolveClientAddress('10.0.0.3', { 'x-forwarded-for': '6.6.6.6, 198.51.100.9, 10.0.0.2' }, trusted);
  assert.deepEqual(got, { address: '198.51.100.9', via: 'x-forwarded-for' });
});

test('a garbage hop stops the walk at the last address we can vouch for', () => {
  const got = resolveClientAddress('10.0.0.3', { 'x-forwarded-for': '198.51.100.9, nonsense, 10.0.0.2' }, trusted);
  assert.equal(got.address, '10.0.0.2');
});

test('X-Real-IP, then Forwarded, are used when X-Forwarded-For is absent', () => {
  assert.deepEqual(resolveClientAddress('127.0.0.1', { 'x-real-ip': '198.51.100.1' }, trusted), { address: '198.51.100.1', via: 'x-real-ip' });
  assert.deepEqual(resolveClientAddress('::1', { forwarded: 'for="[2001:db8::5]:4711";proto=https, for=10.0.0.7' }, trusted), {
    address: '2001:db8::5',
    via: 'forwarded',
  });
});

test("after a PROXY UNKNOWN or LOCAL header from the trusted balancer, forwarding headers are the client's own and ignored", () => {
  const forged = { 'x-forwarded-for': '6.6.6.6', 'x-real-ip': '6.6.6.6', forwarded: 'for=6.6.6.6' };
  assert.deepEqual(resolveClientAddress('127.0.0.1', forged, trusted, { proxyHeaderWithoutSource: true }), { address: '127.0.0.1', via: 'peer' });
  // The same trusted peer speaking HTTP itself (no PROXY header) is still believed.
  assert.deepEqual(resolveClientAddress('127.0.0.1', forged, trusted, { proxyHeaderWithoutSource: false }), { address: '6.6.6.6', via: 'x-forwarded-for' });
});

test('with no --trust-proxy every header is ignored', () => {
  assert.equal(resolveClientAddress('127.0.0.1', { 'x-forwarded-for': '1.2.3.4' }, new TrustedProxies([])).address, '127.0.0.1');
});

test('bareAddress strips ports, brackets and quotes and refuses names', () => {
  assert.equal(bareAddress('1.2.3.4:80'), '1.2.3.4');
  assert.equal(bareAddress('"[::1]:80"'), '::1');
  assert.equal(bareAddress('2001:db8::1'), '2001:db8::1');
  assert.equal(bareAddress('unknown'), null);
  assert.equal(bareAddress('_hidden'), null);
});

test('PROXY v1 and v2 headers parse, and our v2 header parses back', () => {
  const v1 = Buffer.from('PROXY TCP4 192.0.2.1 192.0.2.2 5555 80\r\nGET');
  assert.deepEqual(parseProxyHeader(v1), {
    header: { version: 1, source: { address: '192.0.2.1', port: 5555 }, destination: { address: '192.0.2.2', port: 80 } },
    length: v1.length - 3,
  });
  assert.equal(parseProxyHeader(Buffer.from('PROXY TCP4 192.0.2.1')), 'more');
  const v2 = buildProxyV2Header({ address: '2001:db8::7', port: 1234 }, { address: '::ffff:127.0.0.1', port: 6080 });
  assert.deepEqual(parseProxyHeader(Buffer.concat([v2, Buffer.from('x')])), {
    header: { version: 2, source: { address: '2001:db8::7', port: 1234 }, destination: { address: '::ffff:127.0.0.1', port: 6080 } },
    length: v2.length,
  });
  assert.equal(parseProxyHeader(v2.subarray(0, 20)), 'more');
  const local = buildProxyV2Header(null, null);
  assert.deepEqual(parseProxyHeader(local), { header: { version: 2, source: null, destination: null }, length: 16 });
});

test('malformed, oversized and missing PROXY headers are refused', () => {
  assert.throws(() => parseProxyHeader(Buffer.from('GET / HTTP/1.1\r\n')), ProxyProtocolError);
  assert.throws(() => parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 99999 80\r\n')), /bad port/);
  assert.throws(() => parseProxyHeader(Buffer.from('PROXY TCP4 ' + 'x'.repeat(120))), /longer than 107/);
  const big = buildProxyV2Header({ address: '1.2.3.4', port: 1 }, { address: '5.6.7.8', port: 2 });
  big.writeUInt16BE(60000, 14);
  assert.throws(() => parseProxyHeader(big), /larger than/);
});
