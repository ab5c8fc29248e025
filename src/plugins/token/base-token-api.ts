import { ConfigError, PluginFailure, PluginTimeout } from '../../errors.js';
import type { TargetSpec } from '../../config/config.js';
import type { PluginContext } from '../plugin-context.js';
import type { TokenPlugin } from './token-plugin.js';
import { parseTarget } from './parse-target.js';

/** A token API answers with a target, a few bytes; more than this is refused unread. */
const MAX_BODY_BYTES = 64 * 1024;

/**
 * `BaseTokenAPI`: the source is a URL template with `%s` where the token goes; a GET to it that
 * answers 2xx (after redirects) carries the target in its body as `host:port`.
 *
 * Deliberate fixes to the reference (docs/plugins.md):
 * - the token is URL-encoded (`encodeURIComponent`) before it is put in the URL; the reference
 *   spliced it in raw, so `../plain/x?y=#` reached another API path. The tokens `.` and `..`
 *   are refused outright, because URL parsers treat them (even encoded) as dot segments;
 * - every call has a timeout (--plugin-timeout): a hanging API gives 504, not a hung client;
 * - 404 and other 4xx answers mean "unknown token" (as the reference's `not resp.ok`), but 5xx
 *   answers and unparseable bodies are plugin failures (502), so an API outage is not reported
 *   to users as a bad token;
 * - `%%` is a literal `%`; any other `%` is left alone (the reference raised TypeError).
 */
export class BaseTokenAPI implements TokenPlugin {
  protected readonly template: string;

  protected constructor(
    source: string | null,
    protected readonly context: PluginContext,
    protected readonly pluginName: string = 'BaseTokenAPI',
  ) {
    this.template = checkTemplate(pluginName, source);
  }

  static create(source: string | null, context: PluginContext): BaseTokenAPI {
    return new BaseTokenAPI(source, context);
  }

  async lookup(token: string): Promise<TargetSpec | null> {
    const body = await this.fetchBody(token);
    if (body === null) return null;
    const target = parseTarget(body);
    if (target === null) throw new PluginFailure(`${this.pluginName}: API answer is not host:port or unix_socket:/path`);
    return target;
  }

  /** The body of a 2xx answer, null for 4xx; throws PluginFailure/PluginTimeout otherwise. */
  protected async fetchBody(token: string): Promise<string | null> {
    if (token === '.' || token === '..') return null;
    const url = expandTemplate(this.template, encodeURIComponent(token));
    const signal = AbortSignal.timeout(this.context.timeoutMs);
    try {
      const response = await fetch(url, { signal, redirect: 'follow', headers: { accept: 'application/json, text/plain' } });
      if (response.status >= 400 && response.status < 500) {
        await response.body?.cancel();
        return null;
      }
      if (!response.ok) {
        await response.body?.cancel();
        throw new PluginFailure(`${this.pluginName}: API answered ${response.status}`);
      }
      return await readCapped(response);
    } catch (err) {
      if (err instanceof PluginFailure) throw err;
      const name = (err as Error).name;
      if (name === 'TimeoutError' || name === 'AbortError' || signal.aborted) {
        throw new PluginTimeout(`${this.pluginName}: API did not answer within ${this.context.timeoutMs} ms`, err);
      }
      // The URL holds the token: the message names the template only.
      const reason = describeFetchError(err);
      throw new PluginFailure(`${this.pluginName}: API request to ${redactTemplate(this.template)} failed: ${reason}`, err);
    }
  }
}

function checkTemplate(plugin: string, source: string | null): string {
  if (source === null || source === '') throw new ConfigError(`${plugin} requires --token-source URL (with %s where the token goes)`);
  if (!source.includes('%s')) throw new ConfigError(`${plugin}: --token-source URL must contain %s where the token goes`);
  let parsed: URL;
  try {
    parsed = new URL(expandTemplate(source, 'token'));
  } catch {
    throw new ConfigError(`${plugin}: --token-source is not a valid URL: ${source}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConfigError(`${plugin}: --token-source must be an http:// or https:// URL`);
  }
  return source;
}

/** `%s` becomes the (already encoded) token and `%%` a literal `%`, in one left-to-right pass. */
function expandTemplate(template: string, encodedToken: string): string {
  return template.replace(/%[s%]/g, (m) => (m === '%%' ? '%' : encodedToken));
}

function redactTemplate(template: string): string {
  try {
    const u = new URL(expandTemplate(template, 'TOKEN'));
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(token API)';
  }
}

function describeFetchError(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}

async function readCapped(response: Response): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > MAX_BODY_BYTES) {
      await reader.cancel();
      throw new PluginFailure(`token API answer is larger than ${MAX_BODY_BYTES} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
