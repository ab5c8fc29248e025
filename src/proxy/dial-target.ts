import net from 'node:net';
import tls from 'node:tls';
import { TargetConnectError } from '../errors.js';
import { describeTarget, type TargetSpec } from '../config/config.js';
import { connectFailureReason } from '../log/connect-failure-reason.js';
import { SHARED_READS } from './read-buffer.js';

/*
 * Target sockets read up to 64 KiB at a time, one WebSocket message per read, as the reference's
 * 64 KiB recv; into the process's shared read buffer (read-buffer.ts), so that a short read costs
 * no ArrayBuffer of its own. TLS sockets decrypt into buffers of their own and keep Node's reads.
 */

export interface DialOptions {
  /** --ssl-target: connect with TLS, verifying the certificate and host name. */
  tls: boolean;
  timeoutMs: number;
  /** Extra TLS client options (a private CA, for instance), supplied by the TLS module. */
  tlsOptions?: tls.ConnectionOptions;
  /** A `reverse` target's server, already connected in and taken for this session (src/reverse). */
  held?: net.Socket;
}

/** How a session reaches its target: dialTarget, or a test's own (a socket pair, a failure). */
export type Dialer = (target: TargetSpec, options: DialOptions) => Promise<net.Socket>;

/**
 * Connects to the target. Unlike the reference (first resolved address only, no timeout) we
 * try every address (Node's happy-eyeballs) and give up after `timeoutMs`.
 * Resolves with a connected socket, or rejects with TargetConnectError (close 1011).
 */
export function dialTarget(target: TargetSpec, options: DialOptions): Promise<net.Socket> {
  if (target.kind === 'reverse') {
    // Nothing to dial: the server connected in (src/reverse). It may have gone since.
    const held = options.held;
    if (held && !held.destroyed) return Promise.resolve(held);
    return Promise.reject(new TargetConnectError(`Failed to connect to ${describeTarget(target)}: the reverse server went away`));
  }
  return new Promise((resolve, reject) => {
    let socket: net.Socket;
    const label = describeTarget(target);
    if (target.kind === 'unix') {
      if (options.tls) socket = tls.connect({ ...options.tlsOptions, path: target.path });
      else socket = net.connect({ path: target.path, onread: SHARED_READS });
    } else if (options.tls) {
      socket = tls.connect({
        ...options.tlsOptions,
        host: target.host,
        port: target.port,
        servername: net.isIP(target.host) ? undefined : target.host,
        minVersion: 'TLSv1.2',
      });
    } else {
      socket = net.connect({
        host: target.host,
        port: target.port,
        noDelay: true,
        keepAlive: true,
        autoSelectFamily: true,
        onread: SHARED_READS,
      });
    }
    const connectEvent = options.tls ? 'secureConnect' : 'connect';
    const timer = setTimeout(() => {
      fail(new Error(`timed out after ${options.timeoutMs / 1000}s`));
    }, options.timeoutMs);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      socket.removeListener(connectEvent, onConnect);
      socket.destroy();
      reject(new TargetConnectError(`Failed to connect to ${label}: ${connectFailureReason(err)}`, err));
    };
    const onConnect = (): void => {
      clearTimeout(timer);
      socket.removeListener('error', fail);
      if (target.kind === 'tcp') socket.setNoDelay(true);
      resolve(socket);
    };
    socket.once('error', fail);
    socket.once(connectEvent, onConnect);
  });
}
