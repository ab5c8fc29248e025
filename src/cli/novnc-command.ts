import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatHost, type Config } from '../config/config.js';
import { UsageError } from '../errors.js';
import { OPTIONS } from './option-table.js';

/** Whether `--name` (or a unique prefix of it) is an option that takes a separate value. */
function takesValue(name: string): boolean {
  const bare = name.replace(/^--?/, '');
  const exact = OPTIONS.find((o) => o.long === bare || (name.length === 2 && o.short === bare));
  const matches = exact ? [exact] : OPTIONS.filter((o) => o.long.startsWith(bare));
  return matches.length === 1 && matches[0]!.kind !== 'flag';
}

/**
 * `websockify novnc [--listen [HOST:]PORT] [--vnc HOST:PORT] [other websockify options]`,
 * modelled on noVNC's `utils/novnc_proxy`: serve the console and proxy to one VNC server.
 * Defaults as novnc_proxy: listen on 6080, VNC at localhost:5900. Turns the words into an
 * ordinary websockify command line (`--novnc LISTEN TARGET`), so every other option still works;
 * `--web DIR` replaces the built-in console (novnc_proxy's own --web).
 */
export function novncCommandArgv(words: readonly string[]): string[] {
  let listen = '6080';
  let vnc = 'localhost:5900';
  const rest: string[] = [];
  let web = false;
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    const [name, inline] =
      word.startsWith('--') && word.includes('=') ? [word.slice(0, word.indexOf('=')), word.slice(word.indexOf('=') + 1)] : [word, undefined];
    if (name === '--listen' || name === '--vnc') {
      const value = inline ?? words[++i];
      if (value === undefined || value === '') throw new UsageError(`${name} needs a value`);
      if (name === '--listen') listen = value;
      else vnc = value;
      continue;
    }
    if (name === '--web') web = true;
    if (!word.startsWith('-')) throw new UsageError(`unexpected argument '${word}' (use --listen [HOST:]PORT and --vnc HOST:PORT)`);
    rest.push(word);
    if (inline === undefined && takesValue(name) && i + 1 < words.length) rest.push(words[++i]!);
  }
  return [...(web ? [] : ['--novnc']), ...rest, listen, vnc];
}

/** The address to print for users to open: a wildcard bind is shown as localhost. */
export function consoleUrl(address: { host: string; port: number }, secure: boolean): string {
  const wildcard = address.host === '0.0.0.0' || address.host === '::' || address.host === '';
  const host = wildcard ? 'localhost' : address.host;
  const port = address.port;
  return `${secure ? 'https' : 'http'}://${formatHost(host)}:${port}/vnc.html?host=${encodeURIComponent(host)}&port=${port}`;
}

/**
 * Whether there is a vnc.html to point users at: the built-in console, or a --web root holding
 * one (Debian's /usr/share/novnc, a noVNC checkout), which takes the same host and port names.
 */
export function servesConsolePage(config: Pick<Config, 'novnc' | 'web'>): boolean {
  if (config.novnc) return true;
  return config.web !== null && fs.existsSync(path.join(config.web.root, 'vnc.html'));
}
