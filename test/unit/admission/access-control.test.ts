import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { DEFAULT_LIMITS, describeTarget, type Config, type TargetSpec } from '../../../src/config/config.js';
import { HttpRejection, TokenRejection, WebsockifyError } from '../../../src/errors.js';
import { BasicHTTPAuth } from '../../../src/plugins/auth/basic-http-auth.js';
import type { TokenPlugin } from '../../../src/plugins/token/token-plugin.js';
import { AccessControl, accessOptionsFrom, normalizeTarget, type AccessOptions, type AccessRequest } from '../../../src/admission/access-control.js';
import { captureLogger } from '../../support/capture-logger.js';
import { ExpectOrigin } from '../../../src/plugins/auth/expect-origin.js';

const SECRET = 's3cr3t-token-value';
const TARGET: TargetSpec = { kind: 'tcp', host: '127.0.0.1', port: 5900 };

/** A token table that records every lookup, to prove when lookups (do not) happen. */
class RecordingPlugin implements TokenPlugin {
  calls: string[] = [];
  constructor(private readonly behaviour: (token: string) => Promise<TargetSpec | null>) {}
  lookup(token: string): Promise<TargetSpec | null> {
    this.calls.push(token);
    return this.behaviour(token);
  }
}

const table = () => new RecordingPlugin(async (t) => (t === SECRET ? TARGET : null));
const basicHeader = `Basic ${Buffer.from('u:p').toString('base64')}`;

function req(url: string, headers: Record<string, string> = {}, clientAddress = '127.0.0.1'): AccessRequest {
  return { method: 'GET', url, headers, clientAddress, peerCertificate: null };
}

function gate(partial: Partial<AccessOptions>) {
  const options: AccessOptions = {
    tokenPlugin: null,
    auth: null,
    hostToken: false,
    tokenCookie: false,
    silentTokenFailure: false,
    maxSessionsPerToken: 0,
    maxSessionsPerIp: 0,
    pluginTimeoutMs: 1000,
    ...partial,
  };
  return { access: new AccessControl(options) };
}

async function refusal(promise: Promise<unknown>): Promise<WebsockifyError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof WebsockifyError, String(err));
    return err;
  }
  assert.fail('expected a refusal');
}

describe('AccessControl: admission order and statuses', () => {
  it('admits a known token and returns its target', async () => {
    const { access } = gate({ tokenPlugin: table() });
    const admission = await access.admit(req(`/?token=${SECRET}`));
    assert.deepEqual(admission.target, TARGET);
    admission.release();
  });

  it('admits with a null target when there is no token plugin (fixed target)', async () => {
    const { access } = gate({});
    assert.equal((await access.admit(req('/'))).target, null);
  });

  it('authenticates before the lookup: no token-existence oracle', async () => {
    const plugin = table();
    const { access } = gate({ tokenPlugin: plugin, auth: BasicHTTPAuth.create('u:p', { logger: captureLogger().logger, timeoutMs: 1000 }) });
    const known = await refusal(access.admit(req(`/?token=${SECRET}`)));
    const unknown = await refusal(access.admit(req('/?token=nope')));
    assert.equal(known.httpStatus, 401);
    assert.equal(unknown.httpStatus, 401);
    assert.deepEqual(plugin.calls, [], 'the token plugin must not be asked before authentication');
    assert.deepEqual((await access.admit(req(`/?token=${SECRET}`, { authorization: basicHeader }))).target, TARGET);
  });

  it('answers 404 for a missing and for an unknown token, with a message that does not contain the token', async () => {
    const { access } = gate({ tokenPlugin: table() });
    const missing = await refusal(access.admit(req('/websockify')));
    assert.equal(missing.httpStatus, 404);
    assert.equal(missing.code, 'WSFY_ERR_TOKEN_MISSING');
    const wrong = 'wrong-' + SECRET;
    const unknown = await refusal(access.admit(req(`/?token=${wrong}`)));
    assert.equal(unknown.httpStatus, 404);
    assert.equal(unknown.code, 'WSFY_ERR_TOKEN_UNKNOWN');
    assert.ok(!unknown.message.includes(wrong));
    assert.equal(unknown.message, 'token not found (from query)');
  });

  it('marks token refusals silent with --silent-token-failure (the reference closes without a response)', async () => {
    const { access } = gate({ tokenPlugin: table(), silentTokenFailure: true });
    const err = await refusal(access.admit(req('/?token=nope')));
    assert.ok(err instanceof TokenRejection && err.silent);
  });

  it('turns a throwing plugin into 502, without the token in the message', async () => {
    const plugin = new RecordingPlugin(async (t) => {
      throw new Error(`database said no for ${t}`);
    });
    const { access } = gate({ tokenPlugin: plugin });
    const err = await refusal(access.admit(req(`/?token=${SECRET}`)));
    assert.equal(err.httpStatus, 502);
    assert.equal(err.code, 'WSFY_ERR_PLUGIN');
    assert.ok(!err.message.includes(SECRET));
    assert.match(err.message, /database said no for \[token\]/);
  });

  it('turns a synchronously throwing plugin into 502 too', async () => {
    const plugin: TokenPlugin = {
      lookup: () => {
        throw new TypeError('boom');
      },
    };
    const { access } = gate({ tokenPlugin: plugin });
    assert.equal((await refusal(access.admit(req(`/?token=${SECRET}`)))).httpStatus, 502);
  });

  it('honours a 4xx status on an error thrown by a user plugin that is not our HttpRejection', async () => {
    const auth = {
      authenticate: async () => {
        throw Object.assign(new Error('ticket required'), { httpStatus: 401, headers: { 'WWW-Authenticate': 'Ticket' } });
      },
    };
    const err = await refusal(gate({ auth }).access.admit(req('/')));
    assert.equal(err.httpStatus, 401);
    assert.deepEqual(err.headers, { 'WWW-Authenticate': 'Ticket' });
  });

  it('accepts the reference tuple shapes and refuses a malformed answer with 502', async () => {
    const answers: Record<string, unknown> = {
      tuple: ['127.0.0.1', '5901'],
      unix: ['unix_socket', '/run/x.sock'],
      junk: { host: 'x' },
      badport: { kind: 'tcp', host: 'x', port: 99999 },
    };
    const plugin = { lookup: async (t: string) => answers[t] as TargetSpec };
    const { access } = gate({ tokenPlugin: plugin });
    assert.deepEqual((await access.admit(req('/?token=tuple'))).target, { kind: 'tcp', host: '127.0.0.1', port: 5901 });
    assert.deepEqual((await access.admit(req('/?token=unix'))).target, { kind: 'unix', path: '/run/x.sock' });
    assert.equal((await refusal(access.admit(req('/?token=junk')))).httpStatus, 502);
    assert.equal((await refusal(access.admit(req('/?token=badport')))).httpStatus, 502);
  });

  it('answers 504 when a plugin hangs past --plugin-timeout', async () => {
    const plugin = new RecordingPlugin(() => new Promise(() => {}));
    const { access } = gate({ tokenPlugin: plugin, pluginTimeoutMs: 100 });
    const started = Date.now();
    const err = await refusal(access.admit(req(`/?token=${SECRET}`)));
    assert.equal(err.httpStatus, 504);
    assert.ok(Date.now() - started < 1000);
  });
});

describe('AccessControl: what auth plugins see', () => {
  it('shows auth plugins the fixed target when there is no token plugin, and null with one', async () => {
    const seen: Array<TargetSpec | null> = [];
    const spy = { authenticate: async (r: { target: TargetSpec | null }) => void seen.push(r.target) };
    await gate({ auth: spy }).access.admit(req('/'), TARGET);
    await gate({ auth: spy, tokenPlugin: table() }).access.admit(req(`/?token=${SECRET}`), TARGET);
    assert.deepEqual(seen, [TARGET, null]);
  });

  it('refuses a foreign Origin with 403 before any lookup', async () => {
    const plugin = table();
    const { access } = gate({ tokenPlugin: plugin, auth: new ExpectOrigin(['https://ok.example']) });
    assert.equal((await refusal(access.admit(req(`/?token=${SECRET}`, { origin: 'https://evil.example' })))).httpStatus, 403);
    assert.deepEqual(plugin.calls, []);
  });
});

describe('AccessControl: the token cookie only where the Origin is checked', () => {
  const cookie = { cookie: `token=${SECRET}` };
  const limits = { ...DEFAULT_LIMITS };
  const config = (over: Partial<Pick<Config, 'tokenCookie' | 'allowOrigins' | 'authPlugins'>>) => ({
    hostToken: false,
    silentTokenFailure: false,
    limits,
    tokenCookie: false,
    allowOrigins: [],
    authPlugins: [],
    ...over,
  });

  it('ignores the cookie by default: 404 as with no token, a log note without the token', async () => {
    const plugin = table();
    const err = await refusal(gate({ tokenPlugin: plugin }).access.admit(req('/websockify', cookie)));
    assert.ok(err instanceof TokenRejection);
    assert.equal(err.code, 'WSFY_ERR_TOKEN_MISSING');
    assert.equal(err.httpStatus, 404);
    assert.match(err.logNote ?? '', /token cookie ignored.*--allow-origin.*--token-cookie/);
    assert.equal(`${err.message} ${err.logNote}`.includes(SECRET), false);
    assert.deepEqual(plugin.calls, []);
  });

  it('adds no note when there is no token cookie, and query and path tokens are unaffected', async () => {
    const err = await refusal(gate({ tokenPlugin: table() }).access.admit(req('/websockify', { cookie: 'a=1' })));
    assert.equal((err as TokenRejection).logNote, null);
    const admission = await gate({ tokenPlugin: table() }).access.admit(req(`/websockify/${SECRET}`, { cookie: 'token=other' }));
    assert.deepEqual(admission.target, TARGET);
  });

  it('reads the cookie with --allow-origin, ExpectOrigin or --token-cookie, and not otherwise', () => {
    assert.equal(accessOptionsFrom(config({}), null, null).tokenCookie, false);
    assert.equal(accessOptionsFrom(config({ allowOrigins: ['https://ok.example'] }), null, null).tokenCookie, true);
    assert.equal(accessOptionsFrom(config({ authPlugins: [{ name: 'ExpectOrigin', source: 'https://ok.example' }] }), null, null).tokenCookie, true);
    assert.equal(
      accessOptionsFrom(config({ authPlugins: [{ name: 'websockify.auth_plugins.ExpectOrigin', source: 'https://ok.example' }] }), null, null).tokenCookie,
      true,
    );
    assert.equal(accessOptionsFrom(config({ authPlugins: [{ name: 'BasicHTTPAuth', source: 'u:p' }] }), null, null).tokenCookie, false);
    assert.equal(accessOptionsFrom(config({ tokenCookie: true }), null, null).tokenCookie, true);
  });

  it('with an Origin check, honours the cookie from an allowed Origin and refuses another before reading it', async () => {
    const plugin = table();
    const { access } = gate({ tokenPlugin: plugin, tokenCookie: true, auth: new ExpectOrigin(['https://ok.example']) });
    const admission = await access.admit(req('/websockify', { ...cookie, origin: 'https://ok.example' }));
    assert.deepEqual(admission.target, TARGET);
    admission.release();
    assert.equal((await refusal(access.admit(req('/websockify', { ...cookie, origin: 'https://evil.example' })))).httpStatus, 403);
    assert.deepEqual(plugin.calls, [SECRET]);
  });
});

describe('AccessControl: concurrent-session limits', () => {
  it('caps sessions per token with 429 and frees the slot on release', async () => {
    const { access } = gate({ tokenPlugin: table(), maxSessionsPerToken: 2 });
    const a = await access.admit(req(`/?token=${SECRET}`, {}, '10.0.0.1'));
    const b = await access.admit(req(`/?token=${SECRET}`, {}, '10.0.0.2'));
    const c = await refusal(access.admit(req(`/?token=${SECRET}`, {}, '10.0.0.3')));
    assert.ok(c instanceof HttpRejection);
    assert.equal(c.httpStatus, 429);
    assert.equal(c.code, 'WSFY_ERR_SESSION_LIMIT');
    a.release();
    a.release(); // a second release must not free a second slot
    const d = await access.admit(req(`/?token=${SECRET}`, {}, '10.0.0.4'));
    assert.equal((await refusal(access.admit(req(`/?token=${SECRET}`)))).httpStatus, 429);
    b.release();
    d.release();
    assert.equal(access.limits.sessionsForToken(SECRET), 0);
  });

  it('caps sessions per client address with 429, and a refused admission holds no slot', async () => {
    const { access } = gate({ tokenPlugin: table(), maxSessionsPerIp: 1 });
    const a = await access.admit(req(`/?token=${SECRET}`, {}, '10.0.0.1'));
    assert.equal((await refusal(access.admit(req(`/?token=${SECRET}`, {}, '10.0.0.1')))).httpStatus, 429);
    const other = await access.admit(req(`/?token=${SECRET}`, {}, '10.0.0.2'));
    other.release();
    await refusal(access.admit(req('/?token=unknown', {}, '10.0.0.3')));
    assert.equal(access.limits.sessionsForIp('10.0.0.3'), 0);
    a.release();
    assert.equal(access.limits.sessionsForIp('10.0.0.1'), 0);
  });
});

describe('a target built from the token is logged without it', () => {
  it('masks the token in the log label of a unix path or host name that contains it', () => {
    const unix = normalizeTarget({ kind: 'unix', path: `/run/vnc/${SECRET}.sock` }, SECRET)!;
    assert.equal(unix.kind === 'unix' && unix.path, `/run/vnc/${SECRET}.sock`);
    assert.equal(describeTarget(unix), '/run/vnc/[token].sock');
    const tcp = normalizeTarget(['unix_socket', `/s/${SECRET}`], SECRET)!;
    assert.equal(describeTarget(tcp), '/s/[token]');
    const host = normalizeTarget({ kind: 'tcp', host: `${SECRET}.vms.internal`, port: 5900 }, SECRET)!;
    assert.equal(describeTarget(host), '[token].vms.internal:5900');
    assert.equal(describeTarget(normalizeTarget(TARGET, SECRET)!), '127.0.0.1:5900');
    assert.equal(describeTarget(normalizeTarget({ kind: 'unix', path: '/x', label: 'desk' }, SECRET)!), 'desk');
  });
});
