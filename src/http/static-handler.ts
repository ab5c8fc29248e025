import * as fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as path from 'node:path';
import { pipeline } from 'node:stream';
import type { Logger } from '../log/logger.js';
import { redactPath } from '../log/redact.js';
import { contentTypeFor } from './content-types.js';

/** One directory served under a URL prefix ('/' for the --web root). */
export interface StaticMount {
  /** URL path prefix, starting and ending with '/'. */
  prefix: string;
  dir: string;
}

export interface StaticHandlerOptions {
  mounts: readonly StaticMount[];
  /** --file-only: a directory without index.html/index.htm is 404, not a listing. */
  fileOnly: boolean;
  /** --web-dotfiles: serve names starting with '.'. Off by default (the reference serves them; docs/web.md). */
  dotfiles: boolean;
  /** Added to every file response (the built-in console sets its Content-Security-Policy here). */
  fileHeaders?: Readonly<Record<string, string>>;
  logger?: Logger;
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** Methods the reference answers 405 for; any other non-GET/HEAD method gets 501, as Python websockify master. */
const KNOWN_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  416: 'Range Not Satisfiable',
  501: 'Not Implemented',
};

class Refusal {
  constructor(
    readonly status: number,
    readonly why: string,
  ) {}
}

/**
 * The static web server for --web DIR (docs/web.md), built so that nothing outside the
 * mounted directories can be reached and no redirect leaves the site:
 * - only origin-form targets ('/...'); absolute-form (`GET http://host/x`) is 400;
 * - the path is percent-decoded exactly once; encoded '/' or '\' (%2f, %5c), NUL, raw
 *   backslashes, malformed escapes and any '.' or '..' segment are 400 (so %2e%2e is caught
 *   after the one decode, and %252e%252e stays the literal name '%2e%2e');
 * - the file is resolved with realpath and must lie inside the mount's realpath, so symlinks
 *   leading out are 404 (the reference follows them), and listings do not show them;
 * - a file named with a trailing slash (`/dir/file.txt/`) is 404, as in the reference;
 * - the one redirect (directory without trailing slash, 301) has a relative Location './name/',
 *   which cannot become '//host' or '/\host' whatever the request looked like.
 * Files are streamed with backpressure; nothing is read whole into memory.
 */
export function createStaticHandler(options: StaticHandlerOptions): RequestHandler {
  const mounts = [...options.mounts].sort((a, b) => b.prefix.length - a.prefix.length);
  const realRoots = new Map<string, string>();

  function realRoot(mount: StaticMount): string {
    let real = realRoots.get(mount.dir);
    if (real === undefined) {
      real = fs.realpathSync(mount.dir);
      realRoots.set(mount.dir, real);
    }
    return real;
  }

  return function staticHandler(req: IncomingMessage, res: ServerResponse): void {
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') {
      if (KNOWN_METHODS.has(method)) {
        sendError(res, 405, method, { Allow: 'GET, HEAD' });
      } else {
        sendError(res, 501, method);
      }
      return;
    }
    serve(req, res, method === 'HEAD').catch((err: unknown) => {
      if (err instanceof Refusal) {
        // Logged at the normal level: the reference logs every error answer of its web server
        // (Python's send_error), and a 404 is what an operator looks for when a page is missing.
        options.logger?.info(`web: ${err.status} for ${redactPath(req.url ?? '')}: ${err.why}`);
        sendError(res, err.status, method);
        return;
      }
      options.logger?.warn(`web: error serving ${redactPath(req.url ?? '')}: ${(err as Error).message}`);
      if (!res.headersSent) sendError(res, 404, method);
      else res.destroy();
    });
  };

  async function serve(req: IncomingMessage, res: ServerResponse, head: boolean): Promise<void> {
    const target = req.url ?? '';
    if (!target.startsWith('/')) throw new Refusal(400, 'not an origin-form request target');
    const cut = target.search(/[?#]/);
    const rawPath = cut === -1 ? target : target.slice(0, cut);
    const query = cut === -1 || target[cut] === '#' ? '' : target.slice(cut).split('#')[0]!;
    const segments = decodeSegments(rawPath);

    const urlPath = '/' + segments.join('/');
    const mount = mounts.find((m) => (urlPath + '/').startsWith(m.prefix));
    if (!mount) throw new Refusal(404, 'no mount');
    const inside = segments.slice(mount.prefix.split('/').filter(Boolean).length);
    for (const segment of inside) {
      if (segment.startsWith('.') && !options.dotfiles) throw new Refusal(404, 'dotfile');
    }

    const root = realRoot(mount);
    const real = await containedRealPath(root, path.join(mount.dir, ...inside));
    const stat = await fs.promises.stat(real);
    if (stat.isDirectory()) {
      if (!rawPath.endsWith('/')) {
        // Relative, and starting with './' so a name like 'a:b' is not read as a scheme.
        const last = inside.length > 0 ? inside[inside.length - 1]! : (segments[segments.length - 1] ?? '');
        const location = last === '' ? './' : `./${encodeURIComponent(last)}/${query}`;
        sendRedirect(res, location, head);
        return;
      }
      for (const index of ['index.html', 'index.htm']) {
        const candidate = await containedRealPath(root, path.join(real, index)).catch(() => null);
        if (candidate === null) continue;
        const indexStat = await fs.promises.stat(candidate).catch(() => null);
        if (indexStat?.isFile()) {
          await sendFile(req, res, candidate, head);
          return;
        }
      }
      if (options.fileOnly) throw new Refusal(404, 'directory listing refused (--file-only)');
      await sendListing(res, root, real, urlPath.endsWith('/') ? urlPath : urlPath + '/', head);
      return;
    }
    if (!stat.isFile()) throw new Refusal(404, 'not a regular file');
    // A file is not a directory: `/dir/file.txt/` names nothing (the reference's http.server
    // answers 404 too), and serving it would give the file a second URL with another base.
    if (rawPath.endsWith('/')) throw new Refusal(404, 'trailing slash after a file name');
    await sendFile(req, res, real, head);
  }

  async function containedRealPath(root: string, candidate: string): Promise<string> {
    let real: string;
    try {
      real = await fs.promises.realpath(candidate);
    } catch {
      throw new Refusal(404, 'no such file');
    }
    const rel = path.relative(root, real);
    if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) throw new Refusal(404, 'resolves outside the web root');
    if (!options.dotfiles && rel.split(path.sep).some((s) => s.startsWith('.'))) throw new Refusal(404, 'resolves to a dotfile');
    return real;
  }

  /**
   * A listed symlink must be one that can be followed: one that leads outside the web root, to
   * a dotfile, or nowhere would answer 404, and listing it would still tell where it points.
   */
  async function followable(root: string, dir: string, entry: fs.Dirent): Promise<boolean> {
    if (!entry.isSymbolicLink()) return true;
    try {
      await containedRealPath(root, path.join(dir, entry.name));
      return true;
    } catch {
      return false;
    }
  }

  async function sendListing(res: ServerResponse, root: string, dir: string, urlPath: string, head: boolean): Promise<void> {
    const entries = await fs.promises.readdir(dir, { withFileTypes: true });
    const visible = entries.filter((e) => options.dotfiles || !e.name.startsWith('.'));
    const shownOk = await Promise.all(visible.map((e) => followable(root, dir, e)));
    const items = visible
      .filter((_, i) => shownOk[i])
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((e) => {
        const suffix = e.isDirectory() ? '/' : '';
        const shown = e.name + (e.isDirectory() ? '/' : e.isSymbolicLink() ? '@' : '');
        return `<li><a href="./${escapeHtml(encodeURIComponent(e.name))}${suffix}">${escapeHtml(shown)}</a></li>`;
      });
    const title = `Directory listing for ${escapeHtml(urlPath)}`;
    const body = Buffer.from(
      `<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>${title}</title>\n</head>\n<body>\n<h1>${title}</h1>\n<hr>\n<ul>\n${items.join('\n')}\n</ul>\n<hr>\n</body>\n</html>\n`,
    );
    res.writeHead(200, {
      ...securityHeaders(),
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Length': body.length,
      'Content-Security-Policy': "default-src 'none'",
      'Cache-Control': 'no-cache',
    });
    res.end(head ? undefined : body);
  }

  async function sendFile(req: IncomingMessage, res: ServerResponse, file: string, head: boolean): Promise<void> {
    // Open once and use the descriptor for both stat and reading, so the file served is the one
    // that was checked; O_NOFOLLOW refuses a symlink swapped in after the realpath check.
    let handle: fs.promises.FileHandle;
    try {
      handle = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    } catch {
      throw new Refusal(404, 'cannot open');
    }
    let handedOver = false;
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw new Refusal(404, 'not a regular file');
      const etag = `"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`;
      const lastModified = stat.mtime.toUTCString();
      const headers: Record<string, string | number> = {
        ...securityHeaders(),
        ...options.fileHeaders,
        'Content-Type': contentTypeFor(file),
        'Last-Modified': lastModified,
        ETag: etag,
        'Accept-Ranges': 'bytes',
        // Revalidate every time (cheap with 304) so an upgraded noVNC is picked up at once.
        'Cache-Control': 'no-cache',
      };

      if (notModified(req, etag, stat.mtime)) {
        res.writeHead(304, { ETag: etag, 'Last-Modified': lastModified, 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' });
        res.end();
        return;
      }

      let start = 0;
      let end = stat.size - 1;
      let status = 200;
      const range = req.headers.range;
      if (range !== undefined && rangeApplies(req, etag, lastModified)) {
        const parsed = parseRange(range, stat.size);
        if (parsed === 'unsatisfiable') {
          res.writeHead(416, {
            ...securityHeaders(),
            'Content-Range': `bytes */${stat.size}`,
            'Content-Type': 'text/html; charset=utf-8',
            'Content-Length': 0,
          });
          res.end();
          return;
        }
        if (parsed !== null) {
          [start, end] = parsed;
          status = 206;
          headers['Content-Range'] = `bytes ${start}-${end}/${stat.size}`;
        }
      }
      headers['Content-Length'] = stat.size === 0 ? 0 : end - start + 1;
      res.writeHead(status, headers);
      if (head || stat.size === 0) {
        res.end();
        return;
      }
      const stream = fs.createReadStream('', { fd: handle.fd, start, end, autoClose: false, highWaterMark: 64 * 1024 });
      handedOver = true;
      pipeline(stream, res, () => {
        void handle.close().catch(() => undefined);
      });
    } finally {
      if (!handedOver) await handle.close().catch(() => undefined);
    }
  }
}

/**
 * Splits the raw path into decoded segments, refusing anything that could name something the
 * plain path does not: encoded separators, NUL, backslashes, malformed escapes, '.' and '..'.
 */
function decodeSegments(rawPath: string): string[] {
  if (rawPath.includes('\\')) throw new Refusal(400, 'backslash in path');
  if (/%(2f|5c|00)/i.test(rawPath)) throw new Refusal(400, 'encoded separator or NUL in path');
  const segments: string[] = [];
  for (const raw of rawPath.split('/')) {
    if (raw === '') continue;
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      throw new Refusal(400, 'malformed percent-encoding');
    }
    if (segment === '.' || segment === '..') throw new Refusal(400, 'dot segment in path');
    if (segment.includes('\0') || segment.includes('/') || segment.includes('\\')) throw new Refusal(400, 'separator or NUL in path');
    segments.push(segment);
  }
  return segments;
}

function notModified(req: IncomingMessage, etag: string, mtime: Date): boolean {
  const inm = req.headers['if-none-match'];
  if (inm !== undefined) {
    // RFC 9110 §13.1.2: weak comparison; If-None-Match wins over If-Modified-Since.
    return inm.split(',').some((tag) => {
      const t = tag.trim();
      return t === '*' || t === etag || t === `W/${etag}`;
    });
  }
  const ims = req.headers['if-modified-since'];
  if (ims !== undefined) {
    const since = Date.parse(ims);
    if (!Number.isNaN(since)) return Math.floor(mtime.getTime() / 1000) <= Math.floor(since / 1000);
  }
  return false;
}

/** If-Range (RFC 9110 §13.1.5): a stale validator means "send the whole file". */
function rangeApplies(req: IncomingMessage, etag: string, lastModified: string): boolean {
  const ifRange = req.headers['if-range'] === undefined ? undefined : String(req.headers['if-range']);
  if (ifRange === undefined) return true;
  return ifRange.trim() === etag || ifRange.trim() === lastModified;
}

/**
 * One byte range (RFC 9110 §14.1.2). Multiple ranges are answered with the whole file (allowed:
 * a server may ignore Range); null means "ignore", 'unsatisfiable' means 416.
 */
export function parseRange(header: string, size: number): [number, number] | null | 'unsatisfiable' {
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return null;
  const [, first, last] = m;
  if (first === '' && last === '') return null;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return [Math.max(0, size - suffix), size - 1];
  }
  const start = Number(first);
  if (start >= size) return 'unsatisfiable';
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (end < start) return null;
  return [start, end];
}

function securityHeaders(): Record<string, string> {
  return { 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer' };
}

function sendRedirect(res: ServerResponse, location: string, head: boolean): void {
  const body = Buffer.from(`<!DOCTYPE html>\n<title>301 Moved Permanently</title>\n<a href="${escapeHtml(location)}">${escapeHtml(location)}</a>\n`);
  res.writeHead(301, { ...securityHeaders(), Location: location, 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': body.length });
  res.end(head ? undefined : body);
}

function sendError(res: ServerResponse, status: number, method: string, extra: Record<string, string> = {}): void {
  const text = STATUS_TEXT[status] ?? 'Error';
  const body = Buffer.from(
    `<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>Error response</title></head>\n<body>\n<h1>Error response</h1>\n<p>Error code: ${status}</p>\n<p>Message: ${text}.</p>\n</body>\n</html>\n`,
  );
  res.writeHead(status, text, {
    ...securityHeaders(),
    ...extra,
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': body.length,
    'Content-Security-Policy': "default-src 'none'",
  });
  res.end(method === 'HEAD' ? undefined : body);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
