import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgv } from '../../../src/cli/argv-parser.js';
import { OPTIONS } from '../../../src/cli/option-table.js';
import { buildConfig } from '../../../src/cli/build-config.js';
import { repoRoot } from '../../support/fixture-path.js';

function words(line: string): string[] {
  return line.trim().split(/\s+/);
}

test('the systemd service command line is valid and listens on the socket unit', () => {
  const unit = readFileSync(path.join(repoRoot(), 'contrib', 'systemd', 'websockify.service'), 'utf8');
  const exec = /^ExecStart=(.*)$/m.exec(unit)![1]!;
  const args = words(exec).slice(1);
  const config = buildConfig(parseArgv(args, OPTIONS), { cwd: '/', systemdFd: 3 });
  assert.deepEqual(config.listen, { kind: 'fd', fd: 3, label: 'systemd socket' });
  assert.equal(config.log.format, 'json');
  assert.deepEqual(config.ops.metricsListen, { host: '127.0.0.1', port: 9640 });
  assert.match(unit, /^Requires=websockify\.socket$/m);
  assert.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
  const socket = readFileSync(path.join(repoRoot(), 'contrib', 'systemd', 'websockify.socket'), 'utf8');
  assert.match(socket, /^ListenStream=6080$/m);
  assert.match(socket, /^Accept=no$/m);
});

test("the systemd units run the npm-installed command, not Debian's /usr/bin/websockify, and link docs the package holds", () => {
  // `npm install -g --prefix /usr/local` (README.md, "Install as a system command").
  const prefix = '/usr/local/lib/node_modules/websockify-ts/';
  const pkg = JSON.parse(readFileSync(path.join(repoRoot(), 'package.json'), 'utf8')) as { files: string[]; bin: Record<string, string> };
  assert.ok(pkg.bin['websockify']);
  for (const name of ['websockify.service', 'websockify.socket']) {
    const unit = readFileSync(path.join(repoRoot(), 'contrib', 'systemd', name), 'utf8');
    const exec = /^ExecStart=(\S+)/m.exec(unit)?.[1];
    if (name === 'websockify.service') assert.equal(exec, '/usr/local/bin/websockify');
    const docs = (/^Documentation=(.*)$/m.exec(unit)?.[1] ?? '').split(/\s+/).filter(Boolean);
    assert.ok(docs.length > 0, `${name}: no Documentation=`);
    for (const uri of docs) {
      assert.ok(uri.startsWith(`file:${prefix}`), `${name}: ${uri}`);
      const inPackage = uri.slice(`file:${prefix}`.length);
      assert.ok(
        pkg.files.some((f) => inPackage === f || inPackage.startsWith(`${f}/`)),
        `${name}: ${inPackage} is not in the package`,
      );
      assert.ok(existsSync(path.join(repoRoot(), inPackage)), `${name}: ${inPackage} does not exist`);
    }
  }
});

test('the Dockerfile entry point flags are valid', () => {
  const docker = readFileSync(path.join(repoRoot(), 'contrib', 'docker', 'Dockerfile'), 'utf8');
  const entry = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(docker)![1]!) as string[];
  // node, its flags (test/unit/cli/launcher-flags.test.ts checks them), the CLI, then the CLI's options.
  const script = entry.indexOf('/app/dist/src/cli/main.js');
  assert.equal(entry[0], 'node');
  assert.ok(script > 0, 'the entry point runs the CLI');
  const config = buildConfig(parseArgv([...entry.slice(script + 1), '6080', 'vnc:5900'], OPTIONS), { cwd: '/' });
  assert.equal(config.log.format, 'json');
  assert.equal(config.ops.drainTimeoutMs, 10_000);
  assert.match(docker, /fetch\('http:\/\/127\.0\.0\.1:9640\/readyz'\)/);
});
