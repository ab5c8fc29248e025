// The websockify-ts recordings player (docs/recording.md). Lists the sessions of the record
// index, and replays one: a VNC recording through noVNC's RFB client fed from the file instead
// of a WebSocket, anything else (telnet, a line service) through xterm.js. The recording is
// parsed as data, never evaluated: its format is noVNC's playback file, a JavaScript array of
// escaped strings (docs/record-format.md), so each line is unescaped here.
import RFB from './novnc-lib/core/rfb.js';
// By path, not by package name: an import map is an inline script, which the page's CSP forbids.
import { Terminal } from './vendor/xterm/xterm.mjs';

const $ = (id) => document.getElementById(id);

/** One line `'{123{data',` (from the target) or `'}123}data',` (from the client). */
const LINE = /^'([{}])(\d+)\1(.*)',$/;

/** Undoes record-escape: \\ \' \t \n \r \xNN; every other character is one latin1 byte. */
function unescape(text) {
  const out = new Uint8Array(text.length);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x5c) {
      out[n++] = c;
      continue;
    }
    const e = text[++i];
    if (e === 'x') {
      out[n++] = parseInt(text.slice(i + 1, i + 3), 16);
      i += 2;
    } else out[n++] = e === 't' ? 9 : e === 'n' ? 10 : e === 'r' ? 13 : text.charCodeAt(i);
  }
  return out.slice(0, n);
}

/**
 * The frames of a recording: { ms, fromClient, data }. Lines that do not parse are skipped, so
 * a recording cut short (the proxy stopped mid-session, no 'EOF'] line) still plays.
 */
export function parseRecording(text) {
  const frames = [];
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (m) frames.push({ ms: Number(m[2]), fromClient: m[1] === '}', data: unescape(m[3]) });
  }
  return frames;
}

function clock(ms) {
  const s = Math.max(0, ms) / 1000;
  return `${Math.floor(s / 60)}:${(s % 60).toFixed(1).padStart(4, '0')}`;
}

/** What RFB needs of a WebSocket; everything it sends (its replies to the server) goes nowhere. */
class RecordingChannel {
  constructor() {
    this.binaryType = 'arraybuffer';
    this.protocol = 'binary';
    this.readyState = 'open';
    this.onerror = () => {};
    this.onmessage = () => {};
    this.onopen = () => {};
    this.onclose = () => {};
  }
  send() {}
  close() {}
}

/** Feeds the target's bytes into a noVNC RFB object in view-only mode. */
class VncSink {
  constructor(container) {
    this.container = container;
    this.rfb = null;
    this.channel = null;
  }
  reset() {
    if (this.rfb) this.rfb.disconnect();
    this.container.textContent = '';
    this.channel = new RecordingChannel();
    this.rfb = new RFB(this.container, this.channel, { shared: true });
    this.rfb.viewOnly = true;
    // The recorded server may ask for a password: any answer will do, its reply is recorded.
    this.rfb.addEventListener('credentialsrequired', () => this.rfb.sendCredentials({ username: '', password: '', target: '' }));
  }
  feed(data) {
    this.channel.onmessage({ data: data.slice().buffer });
  }
  canvas() {
    return this.container.querySelector('canvas');
  }
  /** Resolves once every update fed so far is drawn (noVNC renders asynchronously). */
  async settle() {
    // noVNC has no public "drawn" event; its Display's flush() is what RFB itself awaits.
    const display = this.rfb?._display;
    for (let i = 0; i < 100 && display && (display.pending() || this.rfb._flushing); i++) {
      await display.flush();
      await new Promise((r) => requestAnimationFrame(r));
    }
  }
}

/** Feeds the target's bytes into xterm.js, dropping telnet negotiation (IAC sequences). */
class TerminalSink {
  constructor(container) {
    this.term = new Terminal({ scrollback: 10000, convertEol: false });
    this.term.open(container);
    this.iac = 0; // 0 data, 1 after IAC, 2 after WILL/WONT/DO/DONT, 3 in SB, 4 IAC in SB
  }
  reset() {
    this.term.reset();
    this.iac = 0;
  }
  feed(data) {
    const out = [];
    for (const b of data) {
      switch (this.iac) {
        case 0: if (b === 255) this.iac = 1; else out.push(b); break;
        case 1: if (b === 255) { out.push(255); this.iac = 0; } else if (b >= 251 && b <= 254) this.iac = 2; else if (b === 250) this.iac = 3; else this.iac = 0; break;
        case 2: this.iac = 0; break;
        case 3: if (b === 255) this.iac = 4; break;
        case 4: this.iac = b === 240 ? 0 : 3; break;
      }
    }
    if (out.length > 0) this.term.write(new Uint8Array(out));
  }
  /** The terminal's text, line by line (for a reader, and for tests). */
  text() {
    const buffer = this.term.buffer.active;
    const lines = [];
    for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i).translateToString(true));
    return lines.join('\n').replace(/\n+$/, '');
  }
  settle() {
    return new Promise((r) => this.term.write('', r));
  }
}

/** Play, pause, speed and seek over the target's frames, in recorded time. */
class Player {
  constructor(frames, sink, onTick) {
    this.frames = frames.filter((f) => !f.fromClient);
    this.duration = frames.length > 0 ? frames[frames.length - 1].ms : 0;
    this.sink = sink;
    this.onTick = onTick;
    this.position = 0;
    this.next = 0;
    this.speed = 1;
    this.playing = false;
    this.timer = null;
    this.sink.reset();
  }
  /** Feeds every frame up to `ms`. */
  advanceTo(ms) {
    while (this.next < this.frames.length && this.frames[this.next].ms <= ms) this.sink.feed(this.frames[this.next++].data);
    this.position = Math.min(ms, this.duration);
  }
  seek(ms) {
    if (ms < this.position) {
      // The protocol cannot be run backwards: start over and replay at once up to there.
      this.sink.reset();
      this.next = 0;
    }
    this.advanceTo(ms);
    this.onTick();
  }
  play() {
    if (this.playing) return;
    if (this.position >= this.duration) this.seek(0);
    this.playing = true;
    let last = performance.now();
    const tick = () => {
      const now = performance.now();
      this.advanceTo(this.position + (now - last) * this.speed);
      last = now;
      if (this.position >= this.duration) this.pause();
      else this.timer = setTimeout(tick, 16);
      this.onTick();
    };
    this.timer = setTimeout(tick, 0);
    this.onTick();
  }
  pause() {
    this.playing = false;
    clearTimeout(this.timer);
    this.onTick();
  }
}

const ui = {
  rows: document.querySelector('#list tbody'),
  from: $('filter-from'), to: $('filter-to'), client: $('filter-client'), target: $('filter-target'),
  orphans: $('orphans'), section: $('player'), play: $('play'), speed: $('speed'), seek: $('seek'),
  time: $('time'), state: $('state'), title: $('title'), screen: $('screen'), terminal: $('terminal'),
};

let entries = [];
let player = null;
let vnc = null;
let terminal = null;

function updateControls() {
  if (!player) return;
  ui.seek.max = String(player.duration);
  ui.seek.value = String(Math.round(player.position));
  ui.time.textContent = `${clock(player.position)} / ${clock(player.duration)}`;
  ui.play.textContent = player.playing ? 'Pause' : 'Play';
  ui.state.dataset.state = player.playing ? 'playing' : player.position >= player.duration ? 'ended' : 'paused';
  ui.state.textContent = ui.state.dataset.state;
}

async function open(entry) {
  player?.pause();
  const res = await fetch(`files/${encodeURIComponent(entry.file)}`);
  if (!res.ok) throw new Error(`${entry.file}: HTTP ${res.status}`);
  const frames = parseRecording(new TextDecoder('latin1').decode(await res.arrayBuffer()));
  const isVnc = entry.kind === 'vnc' || (frames.find((f) => !f.fromClient)?.data.length >= 4 && String.fromCharCode(...frames.find((f) => !f.fromClient).data.slice(0, 4)) === 'RFB ');
  ui.section.hidden = false;
  ui.screen.hidden = !isVnc;
  ui.terminal.hidden = isVnc;
  let sink;
  if (isVnc) sink = vnc ??= new VncSink(ui.screen);
  else sink = terminal ??= new TerminalSink(ui.terminal);
  ui.title.textContent = `${entry.file}${entry.client ? ` — ${entry.client} to ${entry.target}` : ''}`;
  player = new Player(frames, sink, updateControls);
  player.speed = Number(ui.speed.value);
  updateControls();
  return player;
}

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text ?? '';
  if (cls) td.className = cls;
  return td;
}

function shown(entry) {
  const start = Date.parse(entry.start);
  if (ui.from.value && start < new Date(ui.from.value).getTime()) return false;
  if (ui.to.value && start > new Date(ui.to.value).getTime()) return false;
  if (ui.client.value && !entry.client.includes(ui.client.value.trim())) return false;
  if (ui.target.value && !entry.target.includes(ui.target.value.trim())) return false;
  return true;
}

function render() {
  ui.rows.textContent = '';
  for (const entry of [...entries].reverse()) {
    if (!shown(entry)) continue;
    const row = ui.rows.insertRow();
    row.dataset.file = entry.file ?? '';
    if (!entry.available) row.className = 'gone';
    cell(row, new Date(entry.start).toLocaleString());
    cell(row, clock(entry.duration_ms));
    cell(row, entry.client);
    cell(row, entry.target);
    cell(row, entry.user);
    cell(row, entry.cert);
    cell(row, entry.token_sha256);
    cell(row, String(entry.bytes_in), 'num');
    cell(row, String(entry.bytes_out), 'num');
    cell(row, String(entry.close_code));
    cell(row, entry.kind);
    const action = row.insertCell();
    if (entry.available) {
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = 'Open';
      button.addEventListener('click', () => void open(entry).catch((err) => (ui.title.textContent = String(err))));
      action.append(button);
    } else action.textContent = entry.file === null ? 'not recorded' : `${entry.record === 'failed' ? 'failed' : 'removed'}`;
  }
}

async function load() {
  const res = await fetch('api/index.json');
  if (!res.ok) throw new Error(`index: HTTP ${res.status}`);
  const body = await res.json();
  entries = body.entries;
  // Files with no index line: sessions the proxy never saw end; playable, without their facts.
  for (const orphan of body.orphans) {
    entries.unshift({ file: orphan.file, available: true, record: 'unfinished', kind: '', start: orphan.mtime, duration_ms: 0, client: '', target: '', user: null, cert: null, token_sha256: null, bytes_in: orphan.size, bytes_out: 0, close_code: '' });
  }
  render();
}

for (const input of [ui.from, ui.to, ui.client, ui.target]) input.addEventListener('input', render);
ui.play.addEventListener('click', () => (player?.playing ? player.pause() : player?.play()));
ui.speed.addEventListener('change', () => player && (player.speed = Number(ui.speed.value)));
ui.seek.addEventListener('input', () => player?.seek(Number(ui.seek.value)));

// For scripts and tests driving the page: open a file, seek, and wait until it is drawn.
window.recordingsPlayer = {
  open: (file) => open(entries.find((e) => e.file === file) ?? { file, kind: '' }),
  get player() { return player; },
  seek: (ms) => player?.seek(ms),
  settle: () => (player ? player.sink.settle() : Promise.resolve()),
  canvas: () => vnc?.canvas() ?? null,
  text: () => terminal?.text() ?? '',
  entries: () => entries,
};

load().then(
  () => (document.body.dataset.ready = 'true'),
  (err) => (ui.title.textContent = String(err)),
);
