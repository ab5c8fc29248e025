import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { ClusterMetrics, type WorkerMetricsJson } from '../../../src/metrics/cluster-metrics.js';
import { Metrics, ReverseCounters } from '../../../src/metrics/metrics.js';

function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? NaN : Number(line.slice(series.length + 1));
}

describe('ClusterMetrics with the primary figures (--reverse-listen under --workers)', () => {
  it("adds the primary's reverse figures to the workers' sum, and counts only workers as reporting", async () => {
    const workers = [new Metrics({ processMetrics: false }), new Metrics({ processMetrics: false })];
    workers[0]!.reverse.paired();
    workers[1]!.reverse.refused('busy');
    const primaryRegistry = new Registry();
    const primary = new ReverseCounters([primaryRegistry]);
    primary.registered();
    primary.registered();
    primary.setHeld(1);
    primary.refused('unknown_id');
    const cluster = new ClusterMetrics(
      () => Promise.all(workers.map((w) => w.registry.getMetricsAsJSON() as Promise<WorkerMetricsJson>)),
      2,
      1_000,
      () => primaryRegistry.getMetricsAsJSON() as Promise<WorkerMetricsJson>,
    );
    const { body } = await cluster.render();
    assert.equal(value(body, 'websockify_reverse_held'), 1, body);
    assert.equal(value(body, 'websockify_reverse_registrations_total'), 2, body);
    assert.equal(value(body, 'websockify_reverse_pairings_total'), 1, body);
    assert.equal(value(body, 'websockify_reverse_refusals_total{reason="unknown_id"}'), 1, body);
    assert.equal(value(body, 'websockify_reverse_refusals_total{reason="busy"}'), 1, body);
    assert.equal(value(body, 'websockify_workers_reporting'), 2, body);
  });

  it('without primary figures the sum is the workers alone', async () => {
    const worker = new Metrics({ processMetrics: false });
    const cluster = new ClusterMetrics(() => Promise.all([worker.registry.getMetricsAsJSON() as Promise<WorkerMetricsJson>]), 1);
    const { body } = await cluster.render();
    assert.equal(value(body, 'websockify_reverse_held'), 0, body);
    assert.equal(value(body, 'websockify_workers_reporting'), 1, body);
  });
});
