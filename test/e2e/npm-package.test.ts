/**
 * The npm package as users get it: `npm pack`, then the README's "Install from npm" commands in
 * a fresh prefix with no checkout around (dependencies from the registry): the `websockify`
 * command, the console and terminal pages, `websockify-ts/websock` in Node and in a page without
 * a bundler, and an install on a machine without a C compiler.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { eventually } from '../support/cli-program.js';
import { freePort, run, start, type Finished, type Running } from '../support/programs.js';
import { launchChromium } from '../support/browser.js';
import { lineMatching, readmeBlock, REPO_ROOT, shellLines, substitute } from '../support/doc-blocks.js';
import { startEchoTarget, type TcpTarget } from '../support/targets.js';
import { closeEvent, openClient, receiveBytes } from '../support/ws-client.js';

const CHROMIUM = '/usr/bin/chromium';
const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  bin: Record<string, string>;
  exports: Record<string, { types?: string; default: string } | string>;
};
const TARBALL = `${pkg.name}-${pkg.version}.tgz`;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'wsfy-npm-'));
fs.chmodSync(work, 0o755);
/** Where commands run: nothing of the checkout around. */
const elsewhere = path.join(work, 'elsewhere');
fs.mkdirSync(elsewhere);

function shell(script: string, env: NodeJS.ProcessEnv, cwd = elsewhere, timeoutMs = 300_000): Promise<Finished> {
  return run('sh', ['-ec', script], env, timeoutMs, cwd);
}

async function mustRun(script: string, env: NodeJS.ProcessEnv, cwd?: string, timeoutMs?: number): Promise<string> {
  const r = await shell(script, env, cwd, timeoutMs);
  assert.equal(r.code, 0, `${script}\nexit ${r.code}\n${r.stdout}\n${r.stderr.slice(-4000)}`);
  return r.stdout;
}

/** PATH with `prefix`/bin first, as the README's `export PATH=...` line does. */
function envWith(prefix: string, pathValue = process.env['PATH'] ?? ''): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${path.join(prefix, 'bin')}:${pathValue}` };
  delete env['CC'];
  return env;
}

/**
 * A PATH like this machine's, minus every C/C++ compiler: a directory of links to all other
 * programs (first one of a name wins, as in PATH lookup).
 */
function pathWithoutCompilers(): string {
  const dir = path.join(work, 'no-cc-bin');
  fs.mkdirSync(dir);
  const compiler = /^(cc|c89|c99|c\+\+|gcc|g\+\+|cpp|clang|clang\+\+|tcc)(-[\d.]+)?$|^[\w-]+-linux-gnu-(gcc|g\+\+|cpp|c\+\+)(-[\d.]+)?$/;
  for (const from of (process.env['PATH'] ?? '').split(':')) {
    if (from === '' || !fs.existsSync(from)) continue;
    for (const name of fs.readdirSync(from)) {
      if (compiler.test(name) || fs.existsSync(path.join(dir, name))) continue;
      fs.symlinkSync(path.join(from, name), path.join(dir, name));
    }
  }
  return dir;
}

const installBlock = shellLines(readmeBlock('npm-install'));
/** The README's install commands for a prefix (and the tarball where the test packed it). */
function installLine(prefix: string): string {
  return substitute(lineMatching(installBlock, /^npm install -g /), [
    ['"$HOME/.local"', `"${prefix}"`],
    [`./${TARBALL}`, path.join(work, TARBALL)],
  ]);
}
function readmeCommand(pattern: RegExp, pairs: ReadonlyArray<readonly [string, string]>): string {
  return substitute(lineMatching(installBlock, pattern), pairs);
}

const running: Running[] = [];
async function startWebsockify(command: string, env: NodeJS.ProcessEnv): Promise<Running> {
  const r = start('sh', ['-c', `cd "${elsewhere}" && exec ${command}`], env);
  running.push(r);
  await r.waitFor(/Listen on /, 20_000);
  return r;
}

async function get(url: string): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(url);
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

async function echoThrough(port: number, size: number): Promise<void> {
  const ws = await openClient(`ws://127.0.0.1:${port}/`);
  const data = randomBytes(size);
  try {
    // A session whose target is not up yet (a wrapped program still starting) closes at once.
    const back = Promise.race([
      receiveBytes(ws, size, 10_000),
      closeEvent(ws, 15_000).then(({ code }) => Promise.reject(new Error(`closed ${code} before the echo`))),
    ]);
    ws.send(data);
    assert.ok((await back).equals(data), 'the bytes came back unchanged');
  } finally {
    ws.close();
  }
}

describe('the npm package (npm pack, installed with the README commands)', { timeout: 15 * 60_000 }, () => {
  let echo: TcpTarget;
  const prefix = path.join(work, 'prefix');
  const figures: string[] = [];

  before(async () => {
    echo = await startEchoTarget();
    // The README's `npm pack`. Its prepack script builds; ./run-tests has just built dist/ and
    // other test files run from it now, so the test packs what is there without rebuilding.
    const pack = readmeCommand(/^npm pack$/, [['npm pack', `npm pack --ignore-scripts --json --pack-destination "${work}"`]]);
    const [packed] = JSON.parse(await mustRun(pack, process.env, REPO_ROOT, 120_000)) as Array<{
      filename: string;
      size: number;
      unpackedSize: number;
      entryCount: number;
    }>;
    assert.equal(packed!.filename, TARBALL, 'the README names the tarball npm pack makes');
    const started = Date.now();
    await mustRun(installLine(prefix), envWith(prefix), elsewhere, 600_000);
    figures.push(
      `package ${TARBALL}: ${(packed!.size / 1024).toFixed(0)} KiB packed, ${(packed!.unpackedSize / 1024).toFixed(0)} KiB unpacked, ${packed!.entryCount} files; ` +
        `global install with dependencies took ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  });

  after(async () => {
    for (const r of running) await r.stop();
    await echo?.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('holds the built code, pages, docs and C source, and no tests, bench or build leftovers', async (t: TestContext) => {
    const [dry] = JSON.parse(await mustRun('npm pack --dry-run --ignore-scripts --json', process.env, REPO_ROOT)) as Array<{ files: Array<{ path: string }> }>;
    const files = dry!.files.map((f) => f.path);
    const leftovers = files.filter(
      (f) =>
        /^(test|bench|src|dist\/test|dist\/bench|node_modules|native\/build|contrib|scripts\/(?!build-native\.sh$))\//.test(f) ||
        /\.map$|\.tsbuildinfo$|\.build-stamp$|(?<!\.d)\.ts$|\.tgz$|\.log$/.test(f) ||
        /^(run|run-tests|tsconfig.*\.json)$/.test(f),
    );
    assert.deepEqual(leftovers, []);
    const needed = [
      'package.json',
      'README.md',
      'native/websockify-preload.c',
      'scripts/build-native.sh',
      'web/novnc/vnc.html',
      'dist/web/terminal/index.html',
      'docs/cli.md',
      ...Object.values(pkg.bin),
      ...Object.values(pkg.exports).flatMap((e) => (typeof e === 'string' ? [e] : [e.default, ...(e.types ? [e.types] : [])])),
    ].map((f) => f.replace(/^\.\//, ''));
    for (const f of needed) assert.ok(files.includes(f), `${f} is in the package`);
    const installed = (await mustRun(`du -sk "${prefix}"`, process.env)).split(/\s/)[0];
    figures.push(`installed prefix with dependencies: ${(Number(installed) / 1024).toFixed(1)} MiB`);
    for (const line of figures) t.diagnostic(line);
    console.log(figures.map((l) => `npm-package: ${l}`).join('\n'));
  });

  it('gives a websockify command: --help, and a proxied session with the bytes checked', async () => {
    assert.equal(lineMatching(installBlock, /^export PATH=/), 'export PATH="$HOME/.local/bin:$PATH"');
    const help = await shell(lineMatching(installBlock, /^websockify --help$/), envWith(prefix));
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /Usage:\s+websockify \[options\]/);
    const port = await freePort();
    await startWebsockify(
      readmeCommand(/^websockify 6080 /, [
        ['6080', String(port)],
        ['localhost:5900', `127.0.0.1:${echo.port}`],
      ]),
      envWith(prefix),
    );
    await echoThrough(port, 200_000);
  });

  it('serves the built-in console with `websockify novnc` and the terminal page with --web', async () => {
    const consolePort = await freePort();
    await startWebsockify(
      readmeCommand(/^websockify novnc /, [
        ['--listen 6080', `--listen 127.0.0.1:${consolePort}`],
        ['localhost:5901', `127.0.0.1:${echo.port}`],
      ]),
      envWith(prefix),
    );
    const page = await get(`http://127.0.0.1:${consolePort}/vnc.html`);
    assert.equal(page.status, 200);
    assert.match(page.body, /console\.js/);
    for (const asset of ['/console.js', '/novnc-lib/core/rfb.js']) {
      const got = await get(`http://127.0.0.1:${consolePort}${asset}`);
      assert.equal(got.status, 200, asset);
      assert.match(got.type, /javascript/, asset);
    }

    const termPort = await freePort();
    await startWebsockify(
      readmeCommand(/^websockify --web /, [
        ['"$HOME/.local"', `"${prefix}"`],
        ['2023', String(termPort)],
        ['localhost:23', `127.0.0.1:${echo.port}`],
      ]),
      envWith(prefix),
    );
    const term = await get(`http://127.0.0.1:${termPort}/terminal/index.html`);
    assert.equal(term.status, 200);
    const scripts = [...term.body.matchAll(/<script[^>]*src="([^"]+)"/g)].map((m) => m[1]!);
    assert.ok(scripts.length > 0);
    for (const src of [...scripts.map((s) => new URL(s, `http://127.0.0.1:${termPort}/terminal/`).pathname), '/vendor/xterm/xterm.mjs']) {
      const got = await get(`http://127.0.0.1:${termPort}${src}`);
      assert.equal(got.status, 200, src);
    }
    await echoThrough(termPort, 1000);
  });

  it('imports websockify-ts/websock in Node and, through an import map, in a page without a bundler', async (t: TestContext) => {
    // A project that depends on the package, as `npm install websockify-ts` makes it.
    const project = path.join(work, 'project');
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'uses-websockify', private: true, type: 'module' }));
    await mustRun(`npm install --no-audit --no-fund --ignore-scripts --omit=optional "${path.join(work, TARBALL)}"`, process.env, project, 600_000);
    const port = await freePort();
    // The proxy serves the project directory (the page and node_modules) and bridges to the echo target.
    await startWebsockify(`websockify --web "${project}" 127.0.0.1:${port} 127.0.0.1:${echo.port}`, envWith(prefix));

    fs.writeFileSync(
      path.join(project, 'echo.mjs'),
      `import { Websock } from 'websockify-ts/websock';
import { WebSocket } from 'ws';
const sock = new Websock({ WebSocket });
sock.on('open', () => { sock.send(new Uint8Array([1, 2, 3, 250])); });
sock.on('message', () => {
  if (sock.rQwait('echo', 4)) return;
  console.log(JSON.stringify([...sock.rQshiftBytes(4)]));
  sock.close();
});
sock.open(process.argv[2]);
`,
    );
    const node = await mustRun(`node echo.mjs ws://127.0.0.1:${port}/`, process.env, project, 30_000);
    assert.equal(node.trim(), '[1,2,3,250]');

    const importMap = readmeBlock('npm-importmap');
    const html = substitute(importMap, [
      [
        "import { Websock } from 'websockify-ts/websock';",
        `import { Websock } from 'websockify-ts/websock';
  const sock = new Websock();
  sock.on('open', () => sock.send(new Uint8Array([9, 8, 7])));
  sock.on('message', () => {
    if (!sock.rQwait('echo', 3)) document.title = 'echo ' + [...sock.rQshiftBytes(3)].join(',');
  });
  sock.on('error', (e) => (document.title = 'error ' + e.message));
  sock.open('ws://' + location.host + '/');`,
      ],
    ]);
    fs.writeFileSync(path.join(project, 'index.html'), `<!doctype html><html><head><title>loading</title>\n${html}</head><body></body></html>\n`);
    if (!fs.existsSync(CHROMIUM)) {
      if (process.env['CI'] === 'true') throw new Error(`${CHROMIUM} missing: install the Debian package chromium`);
      t.diagnostic(`${CHROMIUM} not found: the page was not loaded in a browser`);
      return;
    }
    const browser = await launchChromium(CHROMIUM);
    t.after(() => browser.close());
    const page = await browser.context.newPage();
    await page.goto(`http://127.0.0.1:${port}/index.html`);
    await page.waitForFunction(() => (globalThis as unknown as { document: { title: string } }).document.title !== 'loading', null, { timeout: 15_000 });
    assert.equal(await page.title(), 'echo 9,8,7');
  });

  it('installs without a C compiler; wrap mode then fails with one line naming the fix, which works', async () => {
    const noCc = pathWithoutCompilers();
    const bare = path.join(work, 'prefix-no-cc');
    const install = await shell(installLine(bare), envWith(bare, noCc), elsewhere, 600_000);
    assert.equal(install.code, 0, `the install succeeds without a compiler:\n${install.stderr}`);
    const library = path.join(bare, 'lib', 'node_modules', pkg.name, 'native', 'build', 'websockify-preload.so');
    assert.equal(fs.existsSync(library), false, 'nothing was compiled');
    assert.ok(
      fs.existsSync(path.join(prefix, 'lib', 'node_modules', pkg.name, 'native', 'build', 'websockify-preload.so')),
      'with a compiler, the install builds it',
    );

    const port = await freePort();
    const server = `require('net').createServer((s) => s.pipe(s)).listen(${port})`;
    const wrap = `websockify ${port} -- node -e "${server}"`;
    const refused = await shell(wrap, envWith(bare, noCc), elsewhere, 30_000);
    assert.equal(refused.code, 1);
    const lines = refused.stderr.trim().split('\n');
    assert.equal(lines.length, 1, refused.stderr);
    assert.ok(lines[0]!.includes(library), lines[0]);
    assert.match(
      lines[0]!,
      /wrap mode needs the preload library \S+websockify-preload\.so, which was not built when websockify-ts was installed \(that needs a C compiler\): install one \(e\.g\. apt-get install gcc libc6-dev\) and run 'npm rebuild websockify-ts' \(with -g for a global install\)/,
    );

    // The README's fix, once a compiler is there (it is on this machine, outside the filtered PATH).
    const rebuild = substitute(lineMatching(shellLines(readmeBlock('npm-rebuild')), /^npm rebuild /), [['"$HOME/.local"', `"${bare}"`]]);
    assert.match(lineMatching(shellLines(readmeBlock('npm-rebuild')), /^apt-get install /), /gcc libc6-dev/);
    await mustRun(rebuild, envWith(bare), elsewhere, 120_000);
    const wrapped = await startWebsockify(wrap, envWith(bare));
    await wrapped.waitFor(/wrapped program's port \d+ moved to/);
    await eventually(() => echoThrough(port, 4096), 10_000);
  });
});
