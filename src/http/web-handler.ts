import * as fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/config.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { createStaticHandler, type RequestHandler, type StaticMount } from './static-handler.js';

/** Where the built-in console's files live: web/novnc in the package, and the noVNC core from node_modules. */
interface ConsoleAssets {
  pageDir: string;
  libDir: string;
}

/**
 * The console's Content-Security-Policy: its own scripts only (no inline code, nothing from
 * elsewhere), WebSockets to any host (the form may name another proxy), and data:/blob: images
 * and sounds, which noVNC uses for the remote cursor and the bell.
 */
const CONSOLE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' data:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

/** URL prefix under which the noVNC core (the @novnc/novnc package) is served with --novnc. */
const NOVNC_LIB_PREFIX = '/novnc-lib/';

export function consoleAssets(): ConsoleAssets {
  // This file is dist/src/http/web-handler.js (or src/http/web-handler.ts); web/ sits at the
  // package root beside both.
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.resolve(here, '../../../web/novnc'), path.resolve(here, '../../web/novnc')];
  const pageDir = candidates.find((dir) => fs.existsSync(path.join(dir, 'index.html')));
  if (!pageDir) throw new ConfigError(`the built-in noVNC console is missing (looked in ${candidates.join(', ')})`);
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve('@novnc/novnc');
  } catch (err) {
    throw new ConfigError('the npm package @novnc/novnc is not installed (run npm install)', err);
  }
  // The package's entry is core/rfb.js; the page imports core/ and vendor/ relative to its root.
  return { pageDir, libDir: path.resolve(path.dirname(entry), '..') };
}

/**
 * The plain-request handler for --web DIR or --novnc, or null when neither is on. Checks the
 * directories at start so a typo fails the launch instead of every request.
 */
export function createWebHandler(config: Config, logger: Logger, assets?: ConsoleAssets): RequestHandler | null {
  let mounts: StaticMount[];
  if (config.web) {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(config.web.root);
    } catch (err) {
      throw new ConfigError(`web root '${config.web.root}' not found`, err);
    }
    if (!stat.isDirectory()) throw new ConfigError(`web root '${config.web.root}' is not a directory`);
    mounts = [{ prefix: '/', dir: config.web.root }];
  } else if (config.novnc) {
    const found = assets ?? consoleAssets();
    mounts = [
      { prefix: '/', dir: found.pageDir },
      { prefix: NOVNC_LIB_PREFIX, dir: found.libDir },
    ];
  } else {
    return null;
  }
  const files = createStaticHandler({
    mounts,
    fileOnly: config.web ? config.web.fileOnly : true,
    dotfiles: config.web ? config.web.dotfiles : false,
    ...(config.web ? {} : { fileHeaders: { 'Content-Security-Policy': CONSOLE_CSP } }),
    logger,
  });
  return config.web ? files : withConsoleRoutes(files);
}

/**
 * Two names the console answers besides its files:
 * - /vnc_auto.html, the page old noVNC links name (noVNC replaced it by vnc.html?autoconnect=1):
 *   302 to ./vnc.html with the query kept and autoconnect=1 added unless the link sets it; the
 *   browser keeps the #hash across the redirect, and the relative Location cannot leave the site.
 * - /favicon.ico, which browsers ask for on their own: our SVG icon, so it is not a 404 per load.
 */
function withConsoleRoutes(files: RequestHandler): RequestHandler {
  return function consoleRequest(req: IncomingMessage, res: ServerResponse): void {
    const target = req.url ?? '';
    const cut = target.indexOf('?');
    const urlPath = cut === -1 ? target : target.slice(0, cut);
    const method = req.method ?? 'GET';
    if ((method === 'GET' || method === 'HEAD') && urlPath === '/vnc_auto.html') {
      const query = cut === -1 ? '' : target.slice(cut + 1).split('#')[0]!;
      const autoconnect = new URLSearchParams(query).has('autoconnect') ? '' : 'autoconnect=1';
      const location = `./vnc.html?${[query, autoconnect].filter((part) => part !== '').join('&')}`;
      res.writeHead(302, { Location: location, 'Content-Length': 0, 'Cache-Control': 'no-cache', 'Referrer-Policy': 'no-referrer' });
      res.end();
      return;
    }
    if (urlPath === '/favicon.ico') req.url = '/favicon.svg';
    files(req, res);
  };
}
