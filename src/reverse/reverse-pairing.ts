import type net from 'node:net';
import { shortIdHash } from '../config/config.js';
import { ReverseBusy, ReverseNotConnected } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Admission } from '../admission/admit.js';
import type { ReverseMetrics } from '../metrics/reverse-metrics.js';
import type { ReverseRegistry } from './reverse-registry.js';

export type BrokerAnswer = { ok: true; socket: net.Socket } | { ok: false; reason: 'not_connected' | 'busy' };

/**
 * Where a session gets the held server for an ID: the registry of this process, or under
 * --workers the primary, which owns the reverse listener and sends the socket over IPC
 * (reverse-cluster.ts). The socket comes back with the bytes the server sent while held put
 * back in front (unshift), so the session reads them first.
 */
export interface ReverseBroker {
  take(id: string): Promise<BrokerAnswer>;
}

/** The single-process broker: takes from the local registry; the ID is busy until the socket closes. */
export function localBroker(registry: ReverseRegistry): ReverseBroker {
  return {
    take: (id) => {
      const taken = registry.take(id);
      if (!taken.ok) return Promise.resolve(taken);
      registry.markPaired(id);
      taken.socket.once('close', () => registry.unmarkPaired(id));
      if (taken.early.length > 0) taken.socket.unshift(taken.early);
      return Promise.resolve({ ok: true, socket: taken.socket });
    },
  };
}

export type PairedAdmission = Admission & { heldSocket?: net.Socket };

/**
 * Runs after admission and before the upgrade: a `reverse:<ID>` target takes its held server
 * now, so a server that is not there is refused with an HTTP status (503, or 409 when busy)
 * instead of a 101 followed by a close. Other targets pass unchanged.
 */
export async function pairReverse(
  admission: Admission,
  broker: ReverseBroker | undefined,
  log: Logger,
  metrics?: ReverseMetrics | null,
): Promise<PairedAdmission> {
  const target = admission.target;
  if (target.kind !== 'reverse') return admission;
  let answer: BrokerAnswer;
  try {
    answer = broker ? await broker.take(target.id) : { ok: false, reason: 'not_connected' };
  } catch (err) {
    admission.release();
    throw err;
  }
  if (!answer.ok) {
    admission.release();
    metrics?.refused(answer.reason);
    throw answer.reason === 'busy' ? new ReverseBusy() : new ReverseNotConnected();
  }
  metrics?.paired();
  log.info('reverse server paired with browser', { id: shortIdHash(target.id) });
  return { ...admission, heldSocket: answer.socket };
}
