import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { UnixDomainSocketDirectory } from '../../../src/plugins/token/unix-domain-socket-directory.js';
import { captureLogger } from '../../support/capture-logger.js';
import { tempDir } from '../../support/temp-dir.js';

function listenUnix(file: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((s) => s.end());
    server.once('error', reject);
    server.listen(file, () => resolve(server));
  });
}

describe('UnixDomainSocketDirectory with real sockets', () => {
  let tmp: ReturnType<typeof tempDir>;
  let dir: string;
  const servers: net.Server[] = [];
  before(async () => {
    tmp = tempDir();
    dir = path.join(tmp.dir, 'vnc');
    const sibling = path.join(tmp.dir, 'vnc2');
    mkdirSync(dir);
    mkdirSync(sibling);
    servers.push(await listenUnix(path.join(dir, 'desk.sock')));
    servers.push(await listenUnix(path.join(sibling, 'evil.sock')));
    servers.push(await listenUnix(path.join(tmp.dir, 'top.sock')));
    writeFileSync(path.join(dir, 'plain-file'), 'x');
    symlinkSync(path.join(sibling, 'evil.sock'), path.join(dir, 'link-out.sock'));
  });
  after(async () => {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    tmp.cleanup();
  });

  it('maps a token to the socket of that name inside the directory', async () => {
    const { logger } = captureLogger();
    const plugin = await UnixDomainSocketDirectory.create(dir, { logger, timeoutMs: 1000 });
    assert.deepEqual(await plugin.lookup('desk.sock'), { kind: 'unix', path: path.join(dir, 'desk.sock'), label: `${dir}/[token]` });
  });

  it('never lets a token leave the directory (the reference let all of these through)', async () => {
    const { logger } = captureLogger();
    const plugin = await UnixDomainSocketDirectory.create(dir, { logger, timeoutMs: 1000 });
    const hostile = [
      '../vnc2/evil.sock',
      `${tmp.dir}/vnc2/evil.sock`,
      `${dir}2/evil.sock`,
      '../top.sock',
      `${dir}/desk.sock`,
      'sub/../desk.sock',
      '..',
      '.',
      'link-out.sock',
      '%2e%2e/vnc2/evil.sock',
    ];
    for (const token of hostile) assert.equal(await plugin.lookup(token), null, token);
  });

  it('refuses entries that are not sockets, and missing ones', async () => {
    const { logger } = captureLogger();
    const plugin = await UnixDomainSocketDirectory.create(dir, { logger, timeoutMs: 1000 });
    assert.equal(await plugin.lookup('plain-file'), null);
    assert.equal(await plugin.lookup('absent.sock'), null);
  });

  it('refuses to start without a directory', async () => {
    const { logger } = captureLogger();
    await assert.rejects(UnixDomainSocketDirectory.create(path.join(tmp.dir, 'none'), { logger, timeoutMs: 1000 }), /cannot open directory/);
    await assert.rejects(UnixDomainSocketDirectory.create(path.join(dir, 'plain-file'), { logger, timeoutMs: 1000 }), /requires a directory/);
  });
});
