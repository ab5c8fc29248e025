// The websockify-ts console: a small page around noVNC's RFB client (the @novnc/novnc package,
// served by websockify-ts under ./novnc-lib/). It accepts the query (and #hash) names noVNC's
// vnc.html uses, so existing links keep working: host, port, path, token, password, autoconnect,
// encrypt, resize, view_only, shared, reconnect, reconnect_delay, quality, compression.
// When a connection ends without the user asking, the status line says why, in words, with what
// to try: the VNC server refused the password, the proxy could not reach the VNC server (close
// 1011), the proxy is shutting down (1001), the proxy refused the WebSocket (an HTTP error on the
// upgrade, which a browser reports only as close 1006 before 'open'), or the proxy is unreachable.
import RFB from './novnc-lib/core/rfb.js';

const $ = (id) => document.getElementById(id);
const ui = {
  form: $('connect-form'), host: $('host'), port: $('port'), path: $('path'), encrypt: $('encrypt'),
  viewOnly: $('view-only'), resize: $('resize'), status: $('status'), screen: $('screen'),
  controls: $('session-controls'), disconnect: $('disconnect'), cad: $('ctrl-alt-del'),
  fullscreen: $('fullscreen'), clipToggle: $('clipboard-toggle'), clipPanel: $('clipboard-panel'),
  clipboard: $('clipboard'), clipSend: $('clipboard-send'), reconnect: $('reconnect'),
  dialog: $('credentials-dialog'), credForm: $('credentials-form'), username: $('username'),
  usernameRow: $('username-row'), password: $('password'),
};

// Settings come from the query string, then the hash (which wins, as in noVNC: a hash is never
// sent to the server, so it is the better place for a password).
function readSettings() {
  const values = new URLSearchParams(location.search);
  for (const [key, value] of new URLSearchParams(location.hash.slice(1))) values.set(key, value);
  return values;
}
const settings = readSettings();
const flag = (name, fallback) => {
  const value = settings.get(name);
  return value === null ? fallback : value === 'true' || value === '1' || value === 'yes';
};

const secureDefault = location.protocol === 'https:';
ui.host.value = settings.get('host') ?? location.hostname;
ui.port.value = settings.get('port') ?? (location.port || (secureDefault ? '443' : '80'));
ui.path.value = settings.get('path') ?? 'websockify';
ui.encrypt.checked = flag('encrypt', secureDefault);
ui.viewOnly.checked = flag('view_only', false);
ui.resize.value = ['off', 'scale', 'remote'].includes(settings.get('resize')) ? settings.get('resize') : 'scale';
let password = settings.get('password');
const autoReconnect = flag('reconnect', false);
const reconnectDelay = Number(settings.get('reconnect_delay') ?? 5000);

let rfb = null;
let wantDisconnect = false;
let reconnectTimer = null;

function setStatus(text, kind = '') {
  ui.status.textContent = text;
  ui.status.className = kind;
}

// token= goes on the WebSocket URL's query, where websockify's token plugins read it (a path
// that already has a query gets it appended).
const token = settings.get('token');

function websocketUrl() {
  const host = ui.host.value.trim();
  const bracketed = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const path = ui.path.value.trim().replace(/^\/+/, '');
  const tokenQuery = token ? `${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : '';
  return `${ui.encrypt.checked ? 'wss' : 'ws'}://${bracketed}:${ui.port.value.trim()}/${path}${tokenQuery}`;
}

// Whether the WebSocket goes to the server that served this page, so that a plain request to the
// page tells "the proxy is up but refused the upgrade" from "nothing answers there".
function sameServerAsPage(url) {
  const ws = new URL(url);
  const page = new URL(location.href);
  return ws.host === page.host && (ws.protocol === 'wss:') === (page.protocol === 'https:');
}

async function pageServerAnswers() {
  try {
    // The page's own path without its query, which may carry a password.
    await fetch(location.origin + location.pathname, { method: 'HEAD', cache: 'no-store' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Why a connection ended, as { text, kind } for the status line. attempt holds what was seen:
 * whether the WebSocket opened, its close event (code and reason, as sent by the proxy), and the
 * VNC server's security failure if any.
 */
async function describeEnd(attempt, clean) {
  const where = `${ui.host.value.trim()}:${ui.port.value.trim()}`;
  if (attempt.security) {
    const reason = attempt.security.reason ? ` (${attempt.security.reason})` : '';
    return { text: `Authentication failed: the VNC server refused the password${reason}. Check the password and press Reconnect to enter it again.`, kind: 'error' };
  }
  const close = attempt.close;
  if (close === null) {
    return clean
      ? { text: 'Disconnected by the server.', kind: '' }
      : { text: "Connection failed: the VNC handshake went wrong (the browser's console has noVNC's details). Press Reconnect to try again.", kind: 'error' };
  }
  const reason = close.reason ? ` ("${close.reason}")` : '';
  switch (close.code) {
    case 1000:
      return { text: `The VNC server ended the session${reason}. Press Reconnect to start a new one.`, kind: '' };
    case 1001:
      return { text: `The proxy is shutting down${reason}. Press Reconnect once it is running again.`, kind: 'error' };
    case 1011:
      if (!attempt.connected) {
        return { text: `The proxy could not reach the VNC server${reason}. Check that the VNC server is running and that the proxy points at the right host and port, then press Reconnect.`, kind: 'error' };
      }
      return { text: `The connection between the proxy and the VNC server failed${reason}. Press Reconnect to try again.`, kind: 'error' };
    case 1006:
      if (attempt.opened) {
        return { text: 'Connection lost: the network or the proxy dropped the connection without closing it. Press Reconnect to try again.', kind: 'error' };
      }
      if (sameServerAsPage(attempt.url)) {
        if (await pageServerAnswers()) {
          return {
            text: `The server refused the connection: ${token ? 'the token in the link is unknown or not allowed' : 'it may need a token (add token=... to the link)'}, or you are not allowed (authentication, origin or a session limit). Check the link, or ask the administrator.`,
            kind: 'error',
          };
        }
        return { text: `Cannot reach the proxy at ${where}: it is not running or not reachable from here. Press Reconnect once it is back.`, kind: 'error' };
      }
      return { text: `Could not open a WebSocket to ${where}: no proxy answers there, or it refused the connection (unknown token, or not allowed). Check the host, port and token.`, kind: 'error' };
    default:
      return { text: `The proxy closed the connection (code ${close.code}${close.reason ? `: ${close.reason}` : ''}). Press Reconnect to try again.`, kind: 'error' };
  }
}

function applyViewSettings() {
  if (!rfb) return;
  rfb.viewOnly = ui.viewOnly.checked;
  rfb.scaleViewport = ui.resize.value === 'scale';
  rfb.resizeSession = ui.resize.value === 'remote';
  rfb.clipViewport = ui.resize.value === 'off';
}

let attempt = null;
let desktopName = null;

function connectedText() {
  return `Connected${ui.encrypt.checked ? ' (encrypted)' : ''} to ${desktopName || ui.host.value}`;
}

function connect() {
  clearTimeout(reconnectTimer);
  if (rfb) return;
  wantDisconnect = false;
  desktopName = null;
  const url = websocketUrl();
  setStatus(`Connecting to ${url.replace(/\?.*$/, '')}...`);
  ui.reconnect.hidden = true;
  // The page opens the WebSocket itself and hands it to RFB, so that it can read the close code
  // and reason the proxy sent (RFB reports only clean or not). These listeners are added before
  // RFB sets onclose, so they run first and the reason is known when RFB's 'disconnect' fires.
  const current = { url, opened: false, connected: false, close: null, security: null };
  attempt = current;
  try {
    const socket = new WebSocket(url);
    socket.addEventListener('open', () => {
      current.opened = true;
    });
    socket.addEventListener('close', (e) => {
      current.close = { code: e.code, reason: e.reason };
    });
    rfb = new RFB(ui.screen, socket, {
      shared: flag('shared', true),
      ...(password !== null ? { credentials: { password } } : {}),
    });
  } catch (err) {
    rfb = null;
    setStatus(`Cannot connect: ${err.message}`, 'error');
    ui.reconnect.hidden = false;
    return;
  }
  rfb.qualityLevel = Number(settings.get('quality') ?? 6);
  rfb.compressionLevel = Number(settings.get('compression') ?? 2);
  rfb.showDotCursor = flag('show_dot', false);
  applyViewSettings();
  rfb.addEventListener('connect', () => {
    current.connected = true;
    setStatus(connectedText(), 'ok');
    ui.form.hidden = true;
    ui.controls.hidden = false;
    rfb.focus();
  });
  // The server sends its name during the handshake, before 'connect'; it may also change later.
  rfb.addEventListener('desktopname', (e) => {
    desktopName = e.detail.name;
    document.title = `${e.detail.name} - websockify-ts console`;
    if (current.connected && attempt === current) setStatus(connectedText(), 'ok');
  });
  rfb.addEventListener('disconnect', (e) => {
    rfb = null;
    ui.controls.hidden = true;
    ui.form.hidden = false;
    ui.clipPanel.hidden = true;
    if (wantDisconnect) {
      setStatus('Disconnected');
      return;
    }
    ui.reconnect.hidden = false;
    setStatus('Connection ended; finding out why...', 'error');
    void describeEnd(current, e.detail.clean).then(({ text, kind }) => {
      // The user may have reconnected (or disconnected) while the page checked.
      if (attempt !== current || rfb || wantDisconnect) return;
      if (autoReconnect) {
        setStatus(`${text} Reconnecting in ${Math.round(reconnectDelay / 1000)} s.`, 'error');
        reconnectTimer = setTimeout(connect, reconnectDelay);
      } else {
        setStatus(text, kind);
      }
    });
  });
  rfb.addEventListener('securityfailure', (e) => {
    // A wrong password must be asked again, not replayed. The message is shown by the
    // 'disconnect' handler, which RFB fires right after this event.
    password = null;
    current.security = { status: e.detail.status, reason: e.detail.reason ?? '' };
  });
  rfb.addEventListener('credentialsrequired', (e) => askCredentials(e.detail.types));
  rfb.addEventListener('clipboard', (e) => {
    ui.clipboard.value = e.detail.text;
  });
}

function askCredentials(types) {
  ui.usernameRow.hidden = !types.includes('username');
  ui.password.value = '';
  setStatus('Password required');
  ui.dialog.showModal();
  (types.includes('username') ? ui.username : ui.password).focus();
}

ui.credForm.addEventListener('submit', (event) => {
  const ok = event.submitter?.value !== 'cancel';
  if (!rfb) return;
  if (!ok) {
    wantDisconnect = true;
    rfb.disconnect();
    return;
  }
  const creds = { password: ui.password.value };
  if (!ui.usernameRow.hidden) creds.username = ui.username.value;
  password = ui.password.value;
  setStatus('Authenticating...');
  rfb.sendCredentials(creds);
});

ui.form.addEventListener('submit', (event) => {
  event.preventDefault();
  connect();
});
ui.reconnect.addEventListener('click', connect);
ui.disconnect.addEventListener('click', () => {
  wantDisconnect = true;
  clearTimeout(reconnectTimer);
  rfb?.disconnect();
});
ui.cad.addEventListener('click', () => {
  rfb?.sendCtrlAltDel();
  rfb?.focus();
});
ui.fullscreen.addEventListener('click', () => {
  if (document.fullscreenElement) void document.exitFullscreen();
  else void document.documentElement.requestFullscreen().catch((err) => setStatus(`Full screen refused: ${err.message}`, 'error'));
});
document.addEventListener('fullscreenchange', () => {
  ui.fullscreen.textContent = document.fullscreenElement ? 'Exit full screen' : 'Full screen';
});
ui.clipToggle.addEventListener('click', () => {
  ui.clipPanel.hidden = !ui.clipPanel.hidden;
  ui.clipToggle.setAttribute('aria-expanded', String(!ui.clipPanel.hidden));
});
ui.clipSend.addEventListener('click', () => {
  rfb?.clipboardPasteFrom(ui.clipboard.value);
  rfb?.focus();
});
ui.viewOnly.addEventListener('change', applyViewSettings);
ui.resize.addEventListener('change', applyViewSettings);

// For tests and for embedding pages: the live RFB object and a way to start.
window.wsfyConsole = { get rfb() { return rfb; }, connect };

if (flag('autoconnect', false)) connect();
