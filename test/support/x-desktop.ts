import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { waitFor } from './wait.js';

/**
 * A real X desktop for browser tests: Xvfb, x11vnc with a VNC password, a solid root colour,
 * an xterm that appends every line typed into it to a file, and xev logging clicks on its
 * window. Every program must be installed (scripts/system-packages.txt); a missing one fails
 * with the Debian package to install, never a skip.
 */
export const DESKTOP_WIDTH = 800;
export const DESKTOP_HEIGHT = 600;
/** The root window colour, chosen to be unmistakable. */
export const ROOT_RGB: readonly [number, number, number] = [0x2a, 0x7f, 0x62];
/** Where the windows sit (root coordinates), away from noVNC's left-edge control bar. */
export const XTERM_AT = { x: 220, y: 120 };
export const XEV_AT = { x: 520, y: 330, width: 200, height: 150 };

const NEEDED: ReadonlyArray<[string, string]> = [
  ['Xvfb', 'xvfb'],
  ['x11vnc', 'x11vnc'],
  ['xsetroot', 'x11-xserver-utils'],
  ['xterm', 'xterm'],
  ['xev', 'x11-utils'],
  ['xwininfo', 'x11-utils'],
  ['xwd', 'x11-apps'],
];

export function requireDesktopTools(): void {
  const missing = NEEDED.filter(([bin]) => !['/usr/bin', '/usr/local/bin', '/bin'].some((d) => fs.existsSync(path.join(d, bin))));
  if (missing.length > 0) {
    throw new Error(
      `missing programs for the desktop tests: ${missing.map(([b, p]) => `${b} (Debian package ${p})`).join(', ')}; see scripts/system-packages.txt`,
    );
  }
}

export interface Pixels {
  width: number;
  height: number;
  rgb(x: number, y: number): [number, number, number];
}

export interface Desktop {
  display: string;
  vncPort: number;
  password: string;
  /** Lines typed into the xterm so far. */
  typedLines(): string[];
  /** How many ButtonPress events xev has seen. */
  clicks(): number;
  /** Key names xev saw pressed, in order (e.g. Control_L, Alt_L, Delete). */
  keysPressed(): string[];
  /** The X server's own picture of the screen (xwd). */
  capture(): Pixels;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function rfbGreeting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.setTimeout(1000, () => {
      s.destroy();
      resolve(false);
    });
    s.once('data', (d: Buffer) => {
      s.destroy();
      resolve(d.toString('latin1').startsWith('RFB '));
    });
    s.once('error', () => resolve(false));
  });
}

export async function startDesktop(password = 'vncpass1'): Promise<Desktop> {
  requireDesktopTools();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsfy-x-'));
  const children: ChildProcess[] = [];
  const log = fs.openSync(path.join(dir, 'desktop.log'), 'a');

  // -displayfd: the server picks a free display and tells us its number.
  const xvfb = spawn('Xvfb', ['-displayfd', '3', '-screen', '0', `${DESKTOP_WIDTH}x${DESKTOP_HEIGHT}x24`, '-nolisten', 'tcp', '-noreset'], {
    stdio: ['ignore', log, log, 'pipe'],
  });
  children.push(xvfb);
  const displayNumber = await new Promise<string>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error('Xvfb did not report a display')), 15_000);
    (xvfb.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => {
      text += d.toString();
      if (text.includes('\n')) {
        clearTimeout(timer);
        resolve(text.trim());
      }
    });
    xvfb.once('exit', (code) => reject(new Error(`Xvfb exited with ${code}`)));
  });
  const display = `:${displayNumber}`;
  const env = { ...process.env, DISPLAY: display };

  execFileSync('xsetroot', ['-solid', `#${ROOT_RGB.map((c) => c.toString(16).padStart(2, '0')).join('')}`], { env });

  const passFile = path.join(dir, 'vncpasswd');
  execFileSync('x11vnc', ['-storepasswd', password, passFile], { stdio: 'ignore' });
  const vncPort = await freePort();
  const vnc = spawn('x11vnc', ['-display', display, '-rfbport', String(vncPort), '-rfbauth', passFile, '-localhost', '-forever', '-shared', '-noxdamage'], {
    env,
    stdio: ['ignore', log, log],
  });
  children.push(vnc);

  const typed = path.join(dir, 'typed.txt');
  fs.writeFileSync(typed, '');
  const xterm = spawn(
    'xterm',
    [
      '-geometry',
      `50x6+${XTERM_AT.x}+${XTERM_AT.y}`,
      '-bg',
      '#ffd200',
      '-fg',
      'black',
      '-T',
      'wsfy-xterm',
      '-e',
      'sh',
      '-c',
      `while IFS= read -r line; do printf '%s\\n' "$line" >> '${typed}'; done`,
    ],
    { env, stdio: ['ignore', log, log] },
  );
  children.push(xterm);

  const xevOut = path.join(dir, 'xev.txt');
  const xevFd = fs.openSync(xevOut, 'w');
  const xev = spawn('xev', ['-geometry', `${XEV_AT.width}x${XEV_AT.height}+${XEV_AT.x}+${XEV_AT.y}`, '-event', 'button', '-event', 'keyboard'], {
    env,
    stdio: ['ignore', xevFd, log],
  });
  children.push(xev);

  await waitFor(
    () => {
      let tree: string;
      try {
        tree = execFileSync('xwininfo', ['-root', '-tree'], { env }).toString();
      } catch {
        return false; // the X server is not answering yet
      }
      return tree.includes('wsfy-xterm') && tree.includes('Event Tester');
    },
    { timeoutMs: 15_000, intervalMs: 100, what: 'the xterm and xev windows' },
  );
  await waitFor(() => rfbGreeting(vncPort), { timeoutMs: 15_000, intervalMs: 200, what: 'the x11vnc greeting' }).catch((err: Error) => {
    throw new Error(`x11vnc did not start (${err.message}): ${fs.readFileSync(path.join(dir, 'desktop.log'), 'utf8')}`);
  });

  return {
    display,
    vncPort,
    password,
    typedLines: () =>
      fs
        .readFileSync(typed, 'utf8')
        .split('\n')
        .filter((l) => l !== ''),
    clicks: () => (fs.readFileSync(xevOut, 'utf8').match(/^ButtonPress event/gm) ?? []).length,
    keysPressed: () => [...fs.readFileSync(xevOut, 'utf8').matchAll(/^KeyPress event[\s\S]*?keysym 0x[0-9a-f]+, ([A-Za-z0-9_]+)\)/gm)].map((m) => m[1]!),
    capture: () => parseXwd(execFileSync('xwd', ['-root', '-silent'], { env, maxBuffer: 64 * 1024 * 1024 })),
    stop: async () => {
      for (const child of children.reverse()) {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          await new Promise((r) => {
            const t = setTimeout(() => {
              child.kill('SIGKILL');
              r(undefined);
            }, 3000);
            child.once('exit', () => {
              clearTimeout(t);
              r(undefined);
            });
          });
        }
      }
      fs.closeSync(xevFd);
      fs.closeSync(log);
      // Keep the X programs' output next to the screenshots for diagnosis.
      fs.mkdirSync('test-artifacts', { recursive: true });
      fs.copyFileSync(path.join(dir, 'desktop.log'), path.join('test-artifacts', 'x-desktop.log'));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Reads an XWD (X Window Dump) of a TrueColor 24/32-bit screen, as xwd -root writes it. */
export function parseXwd(buf: Buffer): Pixels {
  const field = (i: number): number => buf.readUInt32BE(i * 4);
  const headerSize = field(0);
  const width = field(4);
  const height = field(5);
  const byteOrder = field(7);
  const bitsPerPixel = field(11);
  const bytesPerLine = field(12);
  const masks = [field(14), field(15), field(16)];
  const ncolors = field(19);
  if (bitsPerPixel !== 32) throw new Error(`xwd: ${bitsPerPixel} bits per pixel not handled`);
  const data = headerSize + ncolors * 12;
  const shifts = masks.map((m) => {
    let s = 0;
    while (m !== 0 && ((m >>> s) & 1) === 0) s++;
    return s;
  });
  return {
    width,
    height,
    rgb(x, y) {
      const at = data + y * bytesPerLine + x * 4;
      const v = byteOrder === 0 ? buf.readUInt32LE(at) : buf.readUInt32BE(at);
      return [0, 1, 2].map((i) => ((v & masks[i]!) >>> shifts[i]!) & 0xff) as [number, number, number];
    },
  };
}
