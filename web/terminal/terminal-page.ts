/**
 * wstelnet: a browser terminal for a telnet (or any line-oriented) service reached through
 * websockify-ts. xterm.js draws the terminal; Websock carries the bytes; TelnetNegotiator speaks
 * telnet. URL parameters (noVNC style): host, port, path (default "websockify"), encrypt (0/1),
 * token, autoconnect (default 1), telnet (default 1; 0 for a raw line service).
 */
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { Websock } from '../websock/websock.js';
import { TelnetNegotiator } from './telnet-negotiator.js';

interface ConnectParams {
  host: string;
  port: string;
  path: string;
  encrypt: boolean;
  token: string | null;
}

const params = new URLSearchParams(window.location.search);
const statusEl = document.getElementById('status') as HTMLElement;
const form = document.getElementById('connect-form') as HTMLFormElement;
const disconnectBtn = document.getElementById('disconnect') as HTMLButtonElement;
const connectBtn = document.getElementById('connect') as HTMLButtonElement;
const useTelnet = params.get('telnet') !== '0';

const term = new Terminal({ convertEol: false, cursorBlink: true, scrollback: 5000 });
const fit = new FitAddon();
term.loadAddon(fit);
term.open(document.getElementById('terminal') as HTMLElement);
fit.fit();

let sock: Websock | null = null;
let negotiator = new TelnetNegotiator({ cols: term.cols, rows: term.rows });
const encoder = new TextEncoder();

function setStatus(state: string, text: string): void {
  statusEl.dataset['state'] = state;
  statusEl.textContent = text;
}

/** Builds the proxy URL the way noVNC does: scheme://host:port/path, plus the token if given. */
export function proxyUrl(p: ConnectParams): string {
  const scheme = p.encrypt ? 'wss' : 'ws';
  const host = p.host.includes(':') && !p.host.startsWith('[') ? `[${p.host}]` : p.host;
  const path = p.path.replace(/^\/+/, '');
  const query = p.token !== null && p.token !== '' ? `?token=${encodeURIComponent(p.token)}` : '';
  return `${scheme}://${host}${p.port !== '' ? `:${p.port}` : ''}/${path}${query}`;
}

function formParams(): ConnectParams {
  const data = new FormData(form);
  return {
    host: String(data.get('host') ?? ''),
    port: String(data.get('port') ?? ''),
    path: String(data.get('path') ?? ''),
    encrypt: data.get('encrypt') !== null,
    token: params.get('token'),
  };
}

function sendBytes(bytes: Uint8Array): void {
  if (sock === null || !sock.isOpen || bytes.length === 0) return;
  sock.send(bytes);
}

function onSocketData(): void {
  if (sock === null) return;
  const bytes = sock.rQshiftBytes();
  if (!useTelnet) {
    term.write(bytes);
    return;
  }
  const out = negotiator.receive(bytes);
  if (out.reply.length > 0) sendBytes(out.reply);
  if (out.data.length > 0) term.write(out.data);
}

function connect(p: ConnectParams): void {
  disconnect();
  negotiator = new TelnetNegotiator({ cols: term.cols, rows: term.rows });
  const url = proxyUrl(p);
  setStatus('connecting', `Connecting to ${url.replace(/\?.*$/, '')}`);
  const s = new Websock();
  sock = s;
  s.on('open', (e) => {
    setStatus('connected', `Connected (${e.mode})`);
    connectBtn.disabled = true;
    disconnectBtn.disabled = false;
    term.focus();
  });
  s.on('message', onSocketData);
  s.on('error', (e) => setStatus('error', `Error: ${e.message}`));
  s.on('close', (e) => {
    if (sock === s) sock = null;
    setStatus('closed', `Disconnected (code ${e.code}${e.reason !== '' ? `: ${e.reason}` : ''})`);
    connectBtn.disabled = false;
    disconnectBtn.disabled = true;
  });
  s.open(url);
}

function disconnect(): void {
  sock?.close(1000, 'user disconnect');
}

term.onData((text) => {
  const bytes = encoder.encode(text);
  if (useTelnet) {
    // Until the server takes over echoing (WILL ECHO), behave like a line-mode telnet client.
    if (!negotiator.remoteEcho) term.write(text.replace(/\r/g, '\r\n'));
    sendBytes(negotiator.encodeInput(bytes));
  } else {
    sendBytes(bytes);
  }
});

term.onResize(({ cols, rows }) => {
  if (useTelnet) sendBytes(negotiator.resize(cols, rows));
});

// Refit whenever the terminal's box changes (window resize, layout changes).
new ResizeObserver(() => fit.fit()).observe(document.getElementById('terminal') as HTMLElement);

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  connect(formParams());
});
disconnectBtn.addEventListener('click', disconnect);

const initial: ConnectParams = {
  host: params.get('host') ?? window.location.hostname,
  port: params.get('port') ?? window.location.port,
  path: params.get('path') ?? 'websockify',
  encrypt: (params.get('encrypt') ?? (window.location.protocol === 'https:' ? '1' : '0')) === '1',
  token: params.get('token'),
};
(form.elements.namedItem('host') as HTMLInputElement).value = initial.host;
(form.elements.namedItem('port') as HTMLInputElement).value = initial.port;
(form.elements.namedItem('path') as HTMLInputElement).value = initial.path;
(form.elements.namedItem('encrypt') as HTMLInputElement).checked = initial.encrypt;

// Handles for tests and for debugging in the console.
(window as unknown as { wstelnet: unknown }).wstelnet = {
  term,
  get sock() {
    return sock;
  },
  get negotiator() {
    return negotiator;
  },
  /** The visible screen as text lines, trailing spaces trimmed. */
  screenText(): string {
    const buf = term.buffer.active;
    const lines: string[] = [];
    for (let y = 0; y < buf.length; y++) lines.push(buf.getLine(y)?.translateToString(true) ?? '');
    return lines.join('\n');
  },
};

if (params.get('autoconnect') !== '0') connect(initial);
