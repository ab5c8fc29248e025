import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { test } from 'node:test';
import { parseArgv } from '../../../src/cli/argv-parser.js';
import { OPTIONS } from '../../../src/cli/option-table.js';
import { buildConfig } from '../../../src/cli/build-config.js';
import type { Config } from '../../../src/config/config.js';
import { OpsEndpoints } from '../../../src/metrics/ops-endpoints.js';
import { repoRoot } from '../../support/fixture-path.js';
import { parseYamlDocuments, type YamlValue } from '../../support/yaml-subset.js';

type Obj = { [key: string]: YamlValue };

function obj(value: YamlValue | undefined, what: string): Obj {
  assert.ok(value !== null && typeof value === 'object' && !Array.isArray(value), `${what} is a mapping`);
  return value as Obj;
}
function list(value: YamlValue | undefined, what: string): YamlValue[] {
  assert.ok(Array.isArray(value), `${what} is a list`);
  return value;
}
function at(root: YamlValue, dotted: string): YamlValue {
  let v: YamlValue = root;
  for (const key of dotted.split('.')) v = obj(v, dotted)[key]!;
  assert.notEqual(v, undefined, dotted);
  return v;
}

const docs = parseYamlDocuments(readFileSync(path.join(repoRoot(), 'contrib', 'kubernetes', 'websockify.yaml'), 'utf8'));
const byKind = (kind: string): Obj =>
  obj(
    docs.find((d) => obj(d, 'document')['kind'] === kind),
    kind,
  );
const deployment = byKind('Deployment');
const service = byKind('Service');
const configMap = byKind('ConfigMap');
const pod = obj(at(deployment, 'spec.template.spec'), 'pod spec');
const container = obj(list(pod['containers'], 'containers')[0], 'container');
const ports = list(container['ports'], 'ports').map((p) => obj(p, 'port'));
const portNamed = (name: string): number => Number(ports.find((p) => p['name'] === name)?.['containerPort']);

const dockerfile = readFileSync(path.join(repoRoot(), 'contrib', 'docker', 'Dockerfile'), 'utf8');
const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)![1]!) as string[];
/** The CLI's own arguments in the entry point: what follows the script (node and its flags come first). */
const cliArgs = entrypoint.slice(entrypoint.indexOf('/app/dist/src/cli/main.js') + 1);

/** What the container runs: the image's entry point, then the manifest's args. */
function containerConfig(): Config {
  const args = list(container['args'], 'args').map(String);
  return buildConfig(parseArgv([...cliArgs, ...args], OPTIONS), { cwd: '/' });
}

test('the Deployment listens where its ports and Service say', () => {
  const config = containerConfig();
  assert.equal(config.listen.kind, 'tcp');
  assert.equal(config.listen.kind === 'tcp' && config.listen.port, portNamed('websocket'));
  const servicePort = obj(list(at(service, 'spec.ports'), 'service ports')[0], 'service port');
  assert.equal(servicePort['targetPort'], 'websocket');
  assert.deepEqual(at(service, 'spec.selector'), at(deployment, 'spec.template.metadata.labels'));
  assert.deepEqual(at(deployment, 'spec.selector.matchLabels'), at(deployment, 'spec.template.metadata.labels'));
});

test('the probes reach the health listener on the pod address, not the image loopback default', () => {
  const config = containerConfig();
  assert.deepEqual(config.ops.metricsListen, { host: '0.0.0.0', port: portNamed('health') });
  for (const probe of ['readinessProbe', 'livenessProbe']) {
    assert.equal(at(container, `${probe}.httpGet.port`), 'health', probe);
  }
  assert.equal(at(container, 'readinessProbe.httpGet.path'), '/readyz');
  assert.equal(at(container, 'livenessProbe.httpGet.path'), '/healthz');
  // The image's own HEALTHCHECK probes the same readiness path on the entry point's listener.
  const imageMetrics = buildConfig(parseArgv([...cliArgs, '6080', 'vnc:5900'], OPTIONS), { cwd: '/' }).ops.metricsListen!;
  assert.ok(dockerfile.includes(`fetch('http://${imageMetrics.host}:${imageMetrics.port}/readyz')`));
});

test('the probe paths answer as the manifest expects: readiness fails while draining, liveness does not', async (t) => {
  let ready = true;
  const endpoints = new OpsEndpoints({ metrics: null, metricsPath: null, healthPath: null, isReady: () => ready });
  const server = http.createServer((req, res) => endpoints.handleOwn(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const status = async (probe: string): Promise<number> => (await fetch(base + String(at(container, `${probe}.httpGet.path`)))).status;
  assert.deepEqual([await status('readinessProbe'), await status('livenessProbe')], [200, 200]);
  ready = false;
  // Draining: taken out of the Service, but never restarted (that would cut the sessions short).
  assert.deepEqual([await status('readinessProbe'), await status('livenessProbe')], [503, 200]);
});

test('the grace period covers the preStop sleep, the drain and the flush after 1001', () => {
  const config = containerConfig();
  const preStop = list(at(container, 'lifecycle.preStop.exec.command'), 'preStop command');
  assert.equal(preStop[0], 'sleep');
  const sleepS = Number(preStop[1]);
  const drainS = config.ops.drainTimeoutMs / 1000;
  const flushS = config.limits.shutdownTimeoutMs / 1000;
  assert.equal(drainS, 10, 'the image drains for 10 s');
  assert.equal(flushS, 5, 'the CLI default flush time');
  const grace = Number(pod['terminationGracePeriodSeconds']);
  assert.ok(grace >= sleepS + drainS + flushS, `terminationGracePeriodSeconds ${grace} < ${sleepS} + ${drainS} + ${flushS}`);
  assert.ok(grace <= sleepS + drainS + flushS + 15, `terminationGracePeriodSeconds ${grace} holds a dead pod needlessly long`);
  // The readiness probe notices the drain within its period (the endpoint is removed anyway).
  assert.ok(Number(at(container, 'readinessProbe.periodSeconds')) * Number(at(container, 'readinessProbe.failureThreshold')) <= sleepS);
});

test('the pod runs as the image user on a read-only root, with the token file in /data', () => {
  const config = containerConfig();
  const user = /^USER (\d+):(\d+)$/m.exec(dockerfile)!;
  assert.equal(at(pod, 'securityContext.runAsUser'), Number(user[1]));
  assert.equal(at(pod, 'securityContext.runAsGroup'), Number(user[2]));
  assert.equal(at(pod, 'securityContext.runAsNonRoot'), true);
  assert.equal(at(container, 'securityContext.readOnlyRootFilesystem'), true);
  assert.match(dockerfile, /^VOLUME \/data$/m);
  const mount = obj(list(container['volumeMounts'], 'volumeMounts')[0], 'mount');
  assert.equal(mount['mountPath'], '/data');
  const volume = obj(
    list(pod['volumes'], 'volumes').find((v) => obj(v, 'volume')['name'] === mount['name']),
    'volume',
  );
  assert.equal(at(volume, 'configMap.name'), at(configMap, 'metadata.name'));
  assert.equal(config.tokenPlugin?.source, '/data/tokens');
  const tokens = String(at(configMap, 'data.tokens'));
  assert.match(tokens, /^desk1: [\w.-]+:\d+\n/);
});

test('the YAML subset reader reads what the manifest uses and refuses what it does not support', () => {
  const text = [
    '# c',
    'a:',
    '  b: 1',
    '  c: "x: y"',
    '  d: [1, "two"]',
    'list:',
    '- p: 1',
    '  q: true',
    '- plain',
    'lit: |',
    '  one',
    '   two',
    'e:',
    '---',
    'k: v',
  ].join('\n');
  assert.deepEqual(parseYamlDocuments(text), [
    { a: { b: 1, c: 'x: y', d: [1, 'two'] }, list: [{ p: 1, q: true }, 'plain'], lit: 'one\n two\n', e: null },
    { k: 'v' },
  ]);
  assert.throws(() => parseYamlDocuments('a: &anchor 1'), /unsupported/);
  assert.throws(() => parseYamlDocuments('a: 1 # note'), /unsupported/);
  assert.throws(() => parseYamlDocuments('a: 1\na: 2'), /duplicate key/);
  assert.throws(() => parseYamlDocuments('a: [b, c]'), /JSON/);
});
