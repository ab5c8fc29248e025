import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { startProxy, type ProxyProcess } from '../../support/proxy-process.js';
import { sendRaw, upgradeRequest } from '../../support/raw-ws.js';
import { startEchoTarget, type TcpTarget } from '../../support/targets.js';
import { tempDir } from '../../support/temp-dir.js';

/**
 * A browser attaches the `token` cookie to a WebSocket that any page opens, so the cookie is
 * read only when the Origin is checked (--allow-origin) or --token-cookie asks for it
 * (cross-site WebSocket hijacking otherwise).
 */
describe('the token cookie is read only where the Origin is checked', () => {
  const token = `Tok${randomBytes(8).toString('hex')}`;
  const ALLOWED = 'http://ok.example';
  let tmp: ReturnType<typeof tempDir>;
  let echo: TcpTarget;
  let plain: ProxyProcess;
  let checked: ProxyProcess;
  let optedIn: ProxyProcess;

  before(async () => {
    tmp = tempDir();
    echo = await startEchoTarget();
    const tokens = path.join(tmp.dir, 'tokens.cfg');
    writeFileSync(tokens, `${token}: 127.0.0.1:${echo.port}\n`);
    const base = ['127.0.0.1:0', '--token-plugin', 'TokenFile', '--token-source', tokens];
    [plain, checked, optedIn] = await Promise.all([
      startProxy(base),
      startProxy([...base, '--allow-origin', ALLOWED]),
      startProxy([...base, '--token-cookie']),
    ]);
  });
  after(async () => {
    await Promise.all([plain.stop(), checked.stop(), optedIn.stop()]);
    await echo.close();
    tmp.cleanup();
  });

  async function status(proxy: ProxyProcess, headers: Record<string, string>, urlPath = '/websockify'): Promise<number> {
    const answer = await sendRaw(proxy.port, upgradeRequest({ path: urlPath, headers }));
    answer.socket.destroy();
    return answer.status;
  }

  it('ignores the cookie by default: 404 as for no token, and one log line naming the option, without the token', async () => {
    assert.equal(await status(plain, { Cookie: `token=${token}`, Origin: 'http://evil.example' }), 404);
    const line = await plain.waitForOutput(/token cookie ignored/);
    assert.match(line, /handshake refused: 404 Token not present; token cookie ignored: .*--allow-origin ORIGIN.*--token-cookie/);
    assert.equal(plain.output().includes(token), false);
  });

  it('still takes the token from the query and the path by default', async () => {
    assert.equal(await status(plain, { Cookie: 'token=other' }, `/websockify?token=${token}`), 101);
    assert.equal(await status(plain, {}, `/websockify/${token}`), 101);
  });

  it('honours the cookie with --allow-origin from the allowed Origin', async () => {
    assert.equal(await status(checked, { Cookie: `token=${token}`, Origin: ALLOWED }), 101);
  });

  it('refuses a cross-site Origin with 403 under --allow-origin, cookie or not', async () => {
    assert.equal(await status(checked, { Cookie: `token=${token}`, Origin: 'http://evil.example' }), 403);
    assert.equal(await status(checked, { Cookie: `token=${token}` }), 403);
  });

  it('honours the cookie with --token-cookie', async () => {
    assert.equal(await status(optedIn, { Cookie: `token=${token}`, Origin: 'http://evil.example' }), 101);
    assert.equal(optedIn.output().includes(token), false);
  });
});
