import assert from 'node:assert/strict';

/** The value of one series (`name` or `name{labels}`) in a Prometheus text page; undefined when absent. */
function findSeries(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** The value of one series, 0 when absent (a counter not yet incremented). */
export function seriesValue(text: string, series: string): number {
  return findSeries(text, series) ?? 0;
}

/** The value of one series, which must be in the page. */
export function requiredSeriesValue(text: string, series: string): number {
  const value = findSeries(text, series);
  assert.ok(value !== undefined, `no series ${series} in\n${text}`);
  return value;
}
