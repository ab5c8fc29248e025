import * as fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { readIndex, recordIndexPath, type RecordIndexEntry } from '../record/record-index.js';
import { sendHttpError } from './error-response.js';
import { createStaticHandler, type RequestHandler } from './static-handler.js';
import { consoleAssets } from './web-handler.js';

/** Where the player page is served: only with --record and --web-auth (docs/recording.md). */
const RECORDINGS_PREFIX = '/recordings/';

/**
 * The player's Content-Security-Policy: its own scripts only, no connections anywhere but this
 * server (a recording is never sent elsewhere), data:/blob: images for noVNC's cursor.
 */
const PLAYER_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

interface PlayerAssets {
  /** web/recordings: the page and its script. */
  pageDir: string;
  /** The noVNC core (the @novnc/novnc package). */
  novncDir: string;
  /** dist/web/vendor: xterm.js, copied there by the web build. */
  vendorDir: string;
}

function playerAssets(): PlayerAssets {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const pages = [path.resolve(here, '../../../web/recordings'), path.resolve(here, '../../web/recordings')];
  const pageDir = pages.find((dir) => fs.existsSync(path.join(dir, 'index.html')));
  if (!pageDir) throw new ConfigError(`the recordings player is missing (looked in ${pages.join(', ')})`);
  const vendors = [path.resolve(here, '../../web/vendor'), path.resolve(here, '../../dist/web/vendor')];
  const vendorDir = vendors.find((dir) => fs.existsSync(path.join(dir, 'xterm', 'xterm.mjs')));
  if (!vendorDir) throw new ConfigError(`the terminal emulator for the recordings player is missing (looked in ${vendors.join(', ')}; run npm run build)`);
  return { pageDir, novncDir: consoleAssets().libDir, vendorDir };
}

/** An index entry as the page lists it: plus whether its file is still on disk. */
interface ListedEntry extends RecordIndexEntry {
  available: boolean;
}

/** A recording file without an index line: its session never ended (the proxy stopped or crashed). */
interface Orphan {
  file: string;
  size: number;
  mtime: string;
}

function fileNamePattern(basePath: string): RegExp {
  return new RegExp(`^${path.basename(basePath).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.\\d+(\\.\\d+)?$`);
}

/**
 * `/recordings/`: the list (from the index), the player page, and the recording files. Files
 * are served only by a name of the recording pattern (`<FILE>.<n>` or `<FILE>.<n>.<k>`, no '/')
 * that is a regular file in the recording folder: nothing else in that folder (the index aside,
 * which the list reads) and nothing outside it is reachable, whatever the URL.
 */
export function createRecordingsHandler(basePath: string, logger: Logger, assets: PlayerAssets = playerAssets()): RequestHandler {
  const dir = path.dirname(basePath);
  const pattern = fileNamePattern(basePath);
  const indexPath = recordIndexPath(basePath);
  const headers = { 'Content-Security-Policy': PLAYER_CSP, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' };
  const page = createStaticHandler({
    mounts: [
      { prefix: RECORDINGS_PREFIX, dir: assets.pageDir },
      { prefix: `${RECORDINGS_PREFIX}novnc-lib/`, dir: assets.novncDir },
      { prefix: `${RECORDINGS_PREFIX}vendor/`, dir: assets.vendorDir },
    ],
    fileOnly: true,
    dotfiles: false,
    fileHeaders: headers,
    logger,
  });
  const files = createStaticHandler({
    mounts: [{ prefix: `${RECORDINGS_PREFIX}files/`, dir }],
    fileOnly: true,
    dotfiles: false,
    fileHeaders: headers,
    logger,
  });

  async function list(res: ServerResponse, head: boolean): Promise<void> {
    const entries = await readIndex(indexPath);
    const names = new Set(await fs.promises.readdir(dir).catch(() => [] as string[]));
    const listed: ListedEntry[] = entries.map((e) => ({ ...e, available: e.file !== null && names.has(e.file) }));
    const indexed = new Set(entries.map((e) => e.file));
    const orphans: Orphan[] = [];
    for (const name of names) {
      if (!pattern.test(name) || indexed.has(name)) continue;
      const st = await fs.promises.lstat(path.join(dir, name)).catch(() => null);
      if (st?.isFile()) orphans.push({ file: name, size: st.size, mtime: st.mtime.toISOString() });
    }
    const body = Buffer.from(JSON.stringify({ entries: listed, orphans }));
    res.writeHead(200, { ...headers, 'Content-Type': 'application/json', 'Content-Length': body.length });
    res.end(head ? undefined : body);
  }

  function file(req: IncomingMessage, res: ServerResponse, name: string): void {
    // The pattern has no '/', '.' segment or escape: the name is a plain file name, or 404.
    if (!pattern.test(name)) {
      sendHttpError(res, 404, 'Not Found');
      return;
    }
    fs.lstat(path.join(dir, name), (err, st) => {
      // A symlink planted at a recording's name is not followed.
      if (err || !st.isFile()) sendHttpError(res, 404, 'Not Found');
      else files(req, res);
    });
  }

  return function recordingsRequest(req: IncomingMessage, res: ServerResponse): void {
    const target = req.url ?? '/';
    const cut = target.search(/[?#]/);
    const urlPath = cut === -1 ? target : target.slice(0, cut);
    const head = req.method === 'HEAD';
    if (urlPath === `${RECORDINGS_PREFIX}api/index.json`) {
      list(res, head).catch((err: unknown) => {
        logger.error(`reading the record index failed: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
        sendHttpError(res, 500, 'Internal Server Error');
      });
      return;
    }
    if (urlPath.startsWith(`${RECORDINGS_PREFIX}files/`)) {
      file(req, res, urlPath.slice(`${RECORDINGS_PREFIX}files/`.length));
      return;
    }
    page(req, res);
  };
}

/** The site with `/recordings/` in front: that prefix goes to the player, the rest as before. */
export function withRecordings(site: RequestHandler | null, recordings: RequestHandler): RequestHandler {
  return function siteWithRecordings(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    if (url === '/recordings' || url.startsWith('/recordings?')) {
      res.writeHead(301, { Location: './recordings/', 'Content-Length': 0 });
      res.end();
    } else if (url.startsWith(RECORDINGS_PREFIX)) recordings(req, res);
    else if (site) site(req, res);
    else sendHttpError(res, 404, 'Not Found');
  };
}
