import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createStaticHandler, parseRange, type StaticHandlerOptions } from '../../src/http/static-handler.js';
import { captureLogger } from '../support/capture-logger.js';
import { get } from '../support/raw-http.js';

const OUTSIDE = 'OUTSIDE-SECRET-7f3a';
const DOTFILE = 'DOTFILE-SECRET-91bc';

function assertNoLeak(raw: Buffer, what: string): void {
  const text = raw.toString('latin1');
  assert.ok(!text.includes(OUTSIDE), `${what}: outside bytes leaked`);
  assert.ok(!text.includes(DOTFILE), `${what}: dotfile bytes leaked`);
  assert.ok(!/root:.*:0:0:/.test(text), `${what}: /etc/passwd leaked`);
}

describe('the static web server (--web)', () => {
  let base: string;
  let root: string;
  let bigSha: string;
  const servers: http.Server[] = [];

  async function serve(over: Partial<StaticHandlerOptions> = {}): Promise<number> {
    const handler = createStaticHandler({ mounts: [{ prefix: '/', dir: root }], fileOnly: false, dotfiles: false, ...over });
    const server = http.createServer(handler);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as net.AddressInfo).port;
  }

  before(() => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'wsfy-web-'));
    root = path.join(base, 'root');
    const outside = path.join(base, 'outside');
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'secret.txt'), OUTSIDE);
    fs.mkdirSync(path.join(root, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(root, 'public.txt'), 'hello public');
    fs.writeFileSync(path.join(root, '..not-a-parent'), 'odd but inside');
    fs.writeFileSync(path.join(root, 'sub', 'a.txt'), 'a');
    fs.writeFileSync(path.join(root, 'sub', '<b>"x"&.txt'), 'b');
    fs.mkdirSync(path.join(root, 'withindex'));
    fs.writeFileSync(path.join(root, 'withindex', 'index.html'), '<p>index</p>');
    fs.mkdirSync(path.join(root, 'evil.example'));
    fs.mkdirSync(path.join(root, 'a:b'));
    fs.writeFileSync(path.join(root, '.hidden'), DOTFILE);
    fs.mkdirSync(path.join(root, '.git'));
    fs.writeFileSync(path.join(root, '.git', 'config'), DOTFILE);
    fs.symlinkSync('../outside', path.join(root, 'link-out'));
    fs.symlinkSync('../outside/secret.txt', path.join(root, 'file-link'));
    fs.symlinkSync('.hidden', path.join(root, 'to-dotfile'));
    fs.symlinkSync('public.txt', path.join(root, 'inner-link'));
    execFileSync('mkfifo', [path.join(root, 'pipe')]);
    const big = crypto.randomBytes(5 * 1024 * 1024 + 17);
    bigSha = crypto.createHash('sha256').update(big).digest('hex');
    fs.writeFileSync(path.join(root, 'big.bin'), big);
  });
  after(async () => {
    for (const s of servers) await new Promise((resolve) => s.close(resolve));
    fs.rmSync(base, { recursive: true, force: true });
  });

  describe('never serves anything outside the web root', () => {
    const cases: Array<[string, number]> = [
      ['/../outside/secret.txt', 400],
      ['/sub/../../outside/secret.txt', 400],
      ['/../../../../../../etc/passwd', 400],
      ['/%2e%2e/outside/secret.txt', 400],
      ['/%2E%2E/outside/secret.txt', 400],
      ['/.%2e/outside/secret.txt', 400],
      ['/%2e%2e%2foutside%2fsecret.txt', 400],
      ['/..%2foutside/secret.txt', 400],
      ['/..%2Foutside/secret.txt', 400],
      ['/sub/..%5c..%5coutside/secret.txt', 400],
      ['/..\\outside\\secret.txt', 400],
      ['/%c0%ae%c0%ae/outside/secret.txt', 400],
      ['/%252e%252e/outside/secret.txt', 404],
      ['/public.txt%00.html', 400],
      ['/%00', 400],
      ['/%zz', 400],
      ['/link-out/secret.txt', 404],
      ['/link-out/', 404],
      ['/link-out', 404],
      ['/file-link', 404],
      ['http://site.test/../outside/secret.txt', 400],
      ['http://site.test/public.txt', 400],
      ['*', 400],
      ['/.hidden', 404],
      ['/%2ehidden', 404],
      ['/.git/config', 404],
      ['/.git/', 404],
      ['/to-dotfile', 404],
      ['/pipe', 404],
      ['/public.txt/', 404],
      ['/sub/a.txt/', 404],
      ['/inner-link/', 404],
    ];
    for (const [target, status] of cases) {
      it(`answers ${status} to GET ${target}`, async () => {
        const port = await serve();
        const res = await get(port, target);
        assert.equal(res.status, status);
        assertNoLeak(res.raw, target);
        assert.equal(res.headers['x-content-type-options'], 'nosniff');
      });
    }

    it('lists no dotfile and no outside content in a directory listing', async () => {
      const port = await serve();
      const res = await get(port, '/');
      assert.equal(res.status, 200);
      assert.ok(!res.body.toString().includes('.hidden'));
      assert.ok(!res.body.toString().includes('.git'));
      assertNoLeak(res.raw, '/');
    });

    it('lists only the symlinks that can be followed: none leading outside, to a dotfile or nowhere', async () => {
      fs.symlinkSync('does-not-exist', path.join(root, 'dangling'));
      try {
        const port = await serve();
        const res = await get(port, '/');
        const body = res.body.toString();
        assert.equal(res.status, 200);
        for (const hidden of ['link-out', 'file-link', 'to-dotfile', 'dangling']) assert.ok(!body.includes(`"./${hidden}"`), `${hidden} is listed:\n${body}`);
        assert.ok(body.includes('<a href="./inner-link">inner-link@</a>'), body);
        assert.ok(body.includes('<a href="./public.txt">public.txt</a>'), body);
        for (const hidden of ['link-out', 'file-link', 'to-dotfile', 'dangling']) assert.equal((await get(port, `/${hidden}`)).status, 404, hidden);
      } finally {
        fs.unlinkSync(path.join(root, 'dangling'));
      }
    });
  });

  describe('never redirects off the site', () => {
    const cases: Array<[string, number, string | null]> = [
      ['//evil.example', 301, './evil.example/'],
      ['///evil.example', 301, './evil.example/'],
      ['//evil.example/', 200, null],
      ['/\\evil.example', 400, null],
      ['/\\evil.example/', 400, null],
      ['/%5cevil.example', 400, null],
      ['/%2fevil.example', 400, null],
      ['/%2f%2fevil.example', 400, null],
      ['/sub', 301, './sub/'],
      ['/sub?x=1&y=//evil', 301, './sub/?x=1&y=//evil'],
      ['/a:b', 301, './a%3Ab/'],
    ];
    for (const [target, status, location] of cases) {
      it(`answers ${status} to GET ${target}${location ? ` with Location ${location}` : ''}`, async () => {
        const port = await serve();
        const res = await get(port, target);
        assert.equal(res.status, status);
        assert.equal(res.headers.location ?? null, location);
        if (location !== null) {
          const resolved = new URL(location, `http://site.test${target}`);
          assert.equal(resolved.origin, 'http://site.test');
        }
      });
    }
  });

  describe('serving files', () => {
    it('serves a file with its type, length, Last-Modified, ETag and nosniff; the query is ignored', async () => {
      const port = await serve();
      const res = await get(port, '/public.txt?token=abc');
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'hello public');
      assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
      assert.equal(res.headers['content-length'], '12');
      assert.equal(res.headers['last-modified'], fs.statSync(path.join(root, 'public.txt')).mtime.toUTCString());
      assert.match(res.headers.etag ?? '', /^"[0-9a-f]+-[0-9a-f]+"$/);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
    });

    it('answers HEAD with the headers and no body', async () => {
      const port = await serve();
      const res = await get(port, '/public.txt', '', 'HEAD');
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-length'], '12');
      assert.equal(res.body.length, 0);
    });

    it('serves a name that merely starts with two dots when dotfiles are allowed', async () => {
      const port = await serve({ dotfiles: true });
      assert.equal((await get(port, '/..not-a-parent')).body.toString(), 'odd but inside');
    });

    it('follows a symlink that stays inside the root', async () => {
      const port = await serve();
      assert.equal((await get(port, '/inner-link')).body.toString(), 'hello public');
    });

    it('answers 304 to a matching If-None-Match or a fresh If-Modified-Since, 200 to a stale one', async () => {
      const port = await serve();
      const first = await get(port, '/public.txt');
      const etag = first.headers.etag!;
      const byTag = await get(port, '/public.txt', `If-None-Match: ${etag}\r\n`);
      assert.equal(byTag.status, 304);
      assert.equal(byTag.body.length, 0);
      assert.equal((await get(port, '/public.txt', 'If-None-Match: "other"\r\n')).status, 200);
      assert.equal((await get(port, '/public.txt', `If-Modified-Since: ${first.headers['last-modified']}\r\n`)).status, 304);
      assert.equal((await get(port, '/public.txt', 'If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n')).status, 200);
    });

    it('serves byte ranges with 206, and 416 for a range past the end', async () => {
      const port = await serve();
      const head = await get(port, '/public.txt', 'Range: bytes=0-4\r\n');
      assert.equal(head.status, 206);
      assert.equal(head.body.toString(), 'hello');
      assert.equal(head.headers['content-range'], 'bytes 0-4/12');
      assert.equal(head.headers['content-length'], '5');
      const tail = await get(port, '/public.txt', 'Range: bytes=-6\r\n');
      assert.equal(tail.body.toString(), 'public');
      const open = await get(port, '/public.txt', 'Range: bytes=6-\r\n');
      assert.equal(open.body.toString(), 'public');
      const past = await get(port, '/public.txt', 'Range: bytes=100-\r\n');
      assert.equal(past.status, 416);
      assert.equal(past.headers['content-range'], 'bytes */12');
      const stale = await get(port, '/public.txt', 'Range: bytes=0-4\r\nIf-Range: "stale"\r\n');
      assert.equal(stale.status, 200);
      assert.equal(stale.body.toString(), 'hello public');
    });

    it('parses ranges as RFC 9110 says', () => {
      assert.deepEqual(parseRange('bytes=0-0', 10), [0, 0]);
      assert.deepEqual(parseRange('bytes=5-100', 10), [5, 9]);
      assert.deepEqual(parseRange('bytes=-100', 10), [0, 9]);
      assert.equal(parseRange('bytes=-0', 10), 'unsatisfiable');
      assert.equal(parseRange('bytes=10-', 10), 'unsatisfiable');
      assert.equal(parseRange('bytes=0-1,3-4', 10), null);
      assert.equal(parseRange('items=0-1', 10), null);
    });

    it('streams a large file whole and intact', async () => {
      const port = await serve();
      const res = await get(port, '/big.bin');
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], 'application/octet-stream');
      assert.equal(crypto.createHash('sha256').update(res.body).digest('hex'), bigSha);
    });

    it('serves index.html for a directory', async () => {
      const port = await serve();
      const res = await get(port, '/withindex/');
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), '<p>index</p>');
      assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
    });

    it('lists a directory with the names HTML-escaped', async () => {
      const port = await serve();
      const res = await get(port, '/sub/');
      const body = res.body.toString();
      assert.equal(res.status, 200);
      assert.match(body, /<title>Directory listing for \/sub\/<\/title>/);
      assert.ok(body.includes('>a.txt</a>'));
      assert.ok(body.includes('&#60;b&#62;&#34;x&#34;&#38;.txt'));
      assert.ok(!body.includes('<b>"x"'));
      assert.equal(res.headers['content-security-policy'], "default-src 'none'");
    });

    it('refuses listings with --file-only but still serves index.html', async () => {
      const port = await serve({ fileOnly: true });
      assert.equal((await get(port, '/sub/')).status, 404);
      assert.equal((await get(port, '/')).status, 404);
      assert.equal((await get(port, '/withindex/')).status, 200);
    });

    it('serves dotfiles only with --web-dotfiles', async () => {
      const port = await serve({ dotfiles: true });
      assert.equal((await get(port, '/.hidden')).status, 200);
    });

    it('answers 405 to POST, PUT, PATCH, DELETE and OPTIONS, and 501 to other methods', async () => {
      const port = await serve();
      for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
        const res = await get(port, '/public.txt', 'Content-Length: 0\r\n', method);
        assert.equal(res.status, 405, method);
        assert.equal(res.headers.allow, 'GET, HEAD');
      }
      // Node's parser itself refuses methods it does not know (FOO) with 400 before any handler
      // runs; the core's http front maps that. Methods it knows but we do not serve get 501.
      for (const method of ['TRACE', 'PROPFIND']) assert.equal((await get(port, '/public.txt', '', method)).status, 501, method);
    });

    it('serves a second mount under its prefix', async () => {
      const lib = fs.mkdtempSync(path.join(os.tmpdir(), 'wsfy-lib-'));
      fs.writeFileSync(path.join(lib, 'x.js'), 'export {};');
      const port = await serve({
        mounts: [
          { prefix: '/', dir: root },
          { prefix: '/lib/', dir: lib },
        ],
      });
      const res = await get(port, '/lib/x.js');
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], 'text/javascript; charset=utf-8');
      assert.equal((await get(port, '/lib/../public.txt')).status, 400);
      assert.equal((await get(port, '/lib')).headers.location, './lib/');
      fs.rmSync(lib, { recursive: true, force: true });
    });
  });
  it('logs a 404 at the normal level, as the reference does, with the path and why', async () => {
    const { logger, sink } = captureLogger();
    const port = await serve({ logger });
    assert.equal((await get(port, '/no-such-file.txt')).status, 404);
    assert.equal((await get(port, '/.hidden')).status, 404);
    const lines = sink.records.filter((r) => r.message.startsWith('web: 404'));
    assert.deepEqual(
      lines.map((r) => [r.level, r.message]),
      [
        ['info', 'web: 404 for /no-such-file.txt: no such file'],
        ['info', 'web: 404 for /.hidden: dotfile'],
      ],
    );
  });
});
