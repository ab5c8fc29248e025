import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { closeCodeLabel, Metrics } from '../../../src/metrics/metrics.js';

test('close codes defined by RFC 6455 and IANA keep their own label', () => {
  for (let code = 1000; code <= 1015; code++) assert.equal(closeCodeLabel(code), String(code));
});

test('client-chosen close codes are bucketed, so they cannot create label values without bound', () => {
  assert.equal(closeCodeLabel(3000), '3xxx');
  assert.equal(closeCodeLabel(3999), '3xxx');
  assert.equal(closeCodeLabel(4000), '4xxx');
  assert.equal(closeCodeLabel(4999), '4xxx');
  for (const code of [0, 999, 1016, 2999, 5000, 65535, -1, 1000.5, Number.NaN]) assert.equal(closeCodeLabel(code), 'other', String(code));
});

test('ten thousand distinct close codes make at most a few series', async () => {
  const metrics = new Metrics({ processMetrics: false });
  for (let code = 0; code < 10_000; code++) {
    metrics.sessionStarted(1).onClose!({
      id: code,
      client: '127.0.0.1',
      target: { kind: 'tcp', host: '127.0.0.1', port: 5900 },
      startedAt: 0,
      durationMs: 1,
      upBytes: 0,
      downBytes: 0,
      closeCode: code,
      closedBy: 'client',
    });
  }
  const series = (await metrics.render()).body.split('\n').filter((l) => l.startsWith('websockify_close_codes_total{'));
  assert.equal(series.length, 16 + 3);
  assert.ok(series.includes('websockify_close_codes_total{code="4xxx"} 1000'));
  assert.ok(series.includes('websockify_close_codes_total{code="other"} 7984'));
});
