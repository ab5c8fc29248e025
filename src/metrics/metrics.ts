import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SessionObserver, SessionSummary } from '../proxy/session-observer.js';
import type { ReverseMetrics, ReverseRefusal } from './reverse-metrics.js';

/** Bytes of sessions still open, up (client -> target) and down, summed at scrape time by whoever owns the session registry. */
type LiveBytes = () => { upBytes: number; downBytes: number };

/**
 * The `code` label of websockify_close_codes_total. Clients choose their close code (any of
 * 3000-4999 is valid on the wire), so it cannot become a label as is: every distinct value would
 * be a new time series held forever. Codes defined by RFC 6455 and the IANA registry (1000-1015)
 * are kept; the ranges for libraries (3000-3999) and applications (4000-4999) are one bucket
 * each; anything else is `other`.
 */
export function closeCodeLabel(code: number): string {
  if (!Number.isInteger(code)) return 'other';
  if (code >= 1000 && code <= 1015) return String(code);
  if (code >= 3000 && code <= 3999) return '3xxx';
  if (code >= 4000 && code <= 4999) return '4xxx';
  return 'other';
}

/**
 * Prometheus metrics (`--metrics`, `--metrics-path`), on a registry of our own (never the
 * prom-client global, so two servers in one process do not mix). Nothing here runs per data
 * chunk: sessions are counted at open and close, bytes of open sessions are read at scrape
 * time from `liveBytes`, and bytes of closed sessions are added once from their summary.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly sessionsOpen: Gauge;
  private readonly sessionsTotal: Counter;
  private readonly handshakeFailures: Counter<'reason'>;
  private readonly targetConnectFailures: Counter;
  private readonly closeCodes: Counter<'code'>;
  private readonly handshakeSeconds: Histogram;
  /** --reverse-listen (docs/reverse.md). Registered always, so dashboards see zeros, not gaps. */
  readonly reverse: ReverseCounters;
  private closedUpBytes = 0;
  private closedDownBytes = 0;
  private reportedUpBytes = 0;
  private reportedDownBytes = 0;
  private liveBytes: LiveBytes = () => ({ upBytes: 0, downBytes: 0 });

  constructor(options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    // Counters are kept monotonic: open sessions' bytes move into the closed total on close.
    // collect() runs with the counter as `this`; these closures carry the totals.
    const reportUpBytes = (counter: Counter): void => {
      const live = this.liveBytes().upBytes + this.closedUpBytes;
      if (live > this.reportedUpBytes) {
        counter.inc(live - this.reportedUpBytes);
        this.reportedUpBytes = live;
      }
    };
    const reportDownBytes = (counter: Counter): void => {
      const live = this.liveBytes().downBytes + this.closedDownBytes;
      if (live > this.reportedDownBytes) {
        counter.inc(live - this.reportedDownBytes);
        this.reportedDownBytes = live;
      }
    };
    this.sessionsOpen = new Gauge({ name: 'websockify_sessions_open', help: 'WebSocket sessions currently proxied', registers });
    this.sessionsTotal = new Counter({ name: 'websockify_sessions_total', help: 'WebSocket sessions started', registers });
    new Counter({
      name: 'websockify_bytes_from_client_total',
      help: 'Payload bytes received from WebSocket clients (written to targets)',
      registers,
      collect() {
        reportUpBytes(this);
      },
    });
    new Counter({
      name: 'websockify_bytes_to_client_total',
      help: 'Bytes read from targets (sent to WebSocket clients)',
      registers,
      collect() {
        reportDownBytes(this);
      },
    });
    this.handshakeFailures = new Counter({
      name: 'websockify_handshake_failures_total',
      help: 'Connections refused before or during the WebSocket upgrade, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.targetConnectFailures = new Counter({
      name: 'websockify_target_connect_failures_total',
      help: 'Failed connections to targets (the client got close 1011)',
      registers,
    });
    this.closeCodes = new Counter({
      name: 'websockify_close_codes_total',
      help: 'Ended sessions by WebSocket close code (1006: the connection dropped without a close frame; 3xxx, 4xxx: those ranges; other: anything else)',
      labelNames: ['code'],
      registers,
    });
    this.handshakeSeconds = new Histogram({
      name: 'websockify_handshake_duration_seconds',
      help: 'From accept to the 101 response (TLS, request, token lookup and auth included)',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.reverse = new ReverseCounters(registers);
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  setLiveBytes(source: LiveBytes): void {
    this.liveBytes = source;
  }

  handshakeFailed(reason: string): void {
    this.handshakeFailures.inc({ reason });
  }

  /** A session passed the upgrade; returns the observer whose onClose closes the books. */
  sessionStarted(handshakeMs: number): SessionObserver {
    this.sessionsTotal.inc();
    this.sessionsOpen.inc();
    this.handshakeSeconds.observe(handshakeMs / 1000);
    let closed = false;
    return {
      onClose: (summary: SessionSummary) => {
        if (closed) return;
        closed = true;
        this.sessionsOpen.dec();
        this.closedUpBytes += summary.upBytes;
        this.closedDownBytes += summary.downBytes;
        if (summary.closedBy === 'connect') this.targetConnectFailures.inc();
        this.closeCodes.inc({ code: closeCodeLabel(summary.closeCode) });
      },
    };
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/**
 * The --reverse-listen figures (docs/reverse.md), on the registries given. A server process has
 * them in its Metrics; under --workers the primary, which owns the reverse listener, keeps its
 * own and adds them to the sum over the workers (their held gauge stays 0, so the sum is right).
 */
export class ReverseCounters implements ReverseMetrics {
  private readonly held: Gauge;
  private readonly registrations: Counter;
  private readonly pairings: Counter;
  private readonly refusals: Counter<'reason'>;

  constructor(registers: Registry[]) {
    this.held = new Gauge({ name: 'websockify_reverse_held', help: 'Reverse VNC servers connected in and waiting for a browser', registers });
    this.registrations = new Counter({
      name: 'websockify_reverse_registrations_total',
      help: 'Reverse VNC servers that registered an ID',
      registers,
    });
    this.pairings = new Counter({
      name: 'websockify_reverse_pairings_total',
      help: 'Browsers bridged to a held reverse VNC server',
      registers,
    });
    this.refusals = new Counter({
      name: 'websockify_reverse_refusals_total',
      help: 'Reverse servers closed (unknown_id, malformed_id, id_timeout, limit_total, limit_per_ip, idle_timeout, held_overflow, tls) and browsers refused (not_connected, busy)',
      labelNames: ['reason'],
      registers,
    });
  }

  setHeld(count: number): void {
    this.held.set(count);
  }

  registered(): void {
    this.registrations.inc();
  }

  paired(): void {
    this.pairings.inc();
  }

  refused(reason: ReverseRefusal): void {
    this.refusals.inc({ reason });
  }
}
