// The websockify-ts console: a small page around noVNC's RFB client (the @novnc/novnc package,
// served by websockify-ts under ./novnc-lib/). It accepts the query (and #hash) names noVNC's
// vnc.html uses, so existing links keep working: host, port, path, password, autoconnect,
// encrypt, resize, view_only, shared, reconnect, reconnect_delay, quality, compression.
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

function websocketUrl() {
  const host = ui.host.value.trim();
  const bracketed = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const path = ui.path.value.trim().replace(/^\/+/, '');
  return `${ui.encrypt.checked ? 'wss' : 'ws'}://${bracketed}:${ui.port.value.trim()}/${path}`;
}

function applyViewSettings() {
  if (!rfb) return;
  rfb.viewOnly = ui.viewOnly.checked;
  rfb.scaleViewport = ui.resize.value === 'scale';
  rfb.resizeSession = ui.resize.value === 'remote';
  rfb.clipViewport = ui.resize.value === 'off';
}

function connect() {
  clearTimeout(reconnectTimer);
  if (rfb) return;
  wantDisconnect = false;
  const url = websocketUrl();
  setStatus(`Connecting to ${url.replace(/\?.*$/, '')}...`);
  ui.reconnect.hidden = true;
  try {
    rfb = new RFB(ui.screen, url, {
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
    setStatus(`Connected${ui.encrypt.checked ? ' (encrypted)' : ''} to ${rfb.desktopName || ui.host.value}`, 'ok');
    ui.form.hidden = true;
    ui.controls.hidden = false;
    rfb.focus();
  });
  rfb.addEventListener('desktopname', (e) => {
    document.title = `${e.detail.name} - websockify-ts console`;
    if (rfb && ui.controls.hidden === false) setStatus(`Connected${ui.encrypt.checked ? ' (encrypted)' : ''} to ${e.detail.name}`, 'ok');
  });
  rfb.addEventListener('disconnect', (e) => {
    rfb = null;
    ui.controls.hidden = true;
    ui.form.hidden = false;
    ui.clipPanel.hidden = true;
    if (wantDisconnect) {
      setStatus('Disconnected');
    } else {
      setStatus(e.detail.clean ? 'Disconnected by the server' : 'Connection lost', e.detail.clean ? '' : 'error');
      ui.reconnect.hidden = false;
      if (autoReconnect) {
        setStatus(`${ui.status.textContent}; reconnecting in ${Math.round(reconnectDelay / 1000)} s`, 'error');
        reconnectTimer = setTimeout(connect, reconnectDelay);
      }
    }
  });
  rfb.addEventListener('securityfailure', (e) => {
    // A wrong password must be asked again, not replayed.
    password = null;
    setStatus(`Authentication failed${e.detail.reason ? `: ${e.detail.reason}` : ''}`, 'error');
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
