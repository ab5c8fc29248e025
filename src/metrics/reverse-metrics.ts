/**
 * What the reverse side reports to metrics (metrics.ts implements it: Metrics in a server
 * process, ReverseCounters in the --workers primary); every method is called once per event,
 * never per byte. A shape of its own, with no prom-client behind it, so reverse/ can name it
 * without loading the collectors.
 */
export interface ReverseMetrics {
  /** Servers held now (waiting for a browser). */
  setHeld(count: number): void;
  registered(): void;
  paired(): void;
  /** A server connection or a browser refused, by reason (docs/reverse.md, "Metrics"). */
  refused(reason: ReverseRefusal): void;
}

export type ReverseRefusal =
  'unknown_id' | 'malformed_id' | 'id_timeout' | 'limit_total' | 'limit_per_ip' | 'idle_timeout' | 'held_overflow' | 'tls' | 'not_connected' | 'busy';
