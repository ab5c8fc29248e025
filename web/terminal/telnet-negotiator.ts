/**
 * The client side of telnet (RFC 854) for the browser terminal: separates terminal data from
 * commands, answers option negotiation, and encodes keyboard input. Pure (no DOM, no sockets) so
 * the state machine is unit-tested byte by byte.
 *
 * Options handled: BINARY (RFC 856), ECHO (RFC 857), SUPPRESS-GO-AHEAD (RFC 858), TERMINAL-TYPE
 * (RFC 1091), NAWS window size (RFC 1073). Everything else is refused. Replies are only sent when
 * an option actually changes state, which is the loop-prevention rule of RFC 854 ("a party
 * should not acknowledge a request to enter a mode it is already in"). A server that never sends
 * IAC (a plain line service) passes through untouched and never sees a negotiation byte from us.
 */

export const IAC = 255;
export const DONT = 254;
export const DO = 253;
export const WONT = 252;
export const WILL = 251;
export const SB = 250;
export const SE = 240;

export const OPT_BINARY = 0;
export const OPT_ECHO = 1;
export const OPT_SGA = 3;
export const OPT_TTYPE = 24;
export const OPT_NAWS = 31;

const TTYPE_IS = 0;
const TTYPE_SEND = 1;
/** A subnegotiation longer than this is dropped: no option we accept needs more. */
const MAX_SB = 512;

/** Options we agree to perform ourselves (answer DO with WILL). */
const LOCAL_OK = new Set([OPT_BINARY, OPT_SGA, OPT_TTYPE, OPT_NAWS]);
/** Options we agree to let the server perform (answer WILL with DO). */
const REMOTE_OK = new Set([OPT_BINARY, OPT_ECHO, OPT_SGA]);

const enum State {
  Data,
  Iac,
  Option,
  Sb,
  SbIac,
}

export interface TelnetOutput {
  /** Bytes for the terminal display. */
  data: Uint8Array;
  /** Bytes to send back to the server (negotiation answers); empty if none. */
  reply: Uint8Array;
}

export interface TelnetNegotiatorOptions {
  terminalType?: string;
  cols?: number;
  rows?: number;
}

export class TelnetNegotiator {
  private state = State.Data;
  private command = 0;
  private sb: number[] = [];
  private sbOverflow = false;
  private afterCr = false;
  private readonly local = new Set<number>();
  private readonly remote = new Set<number>();
  private readonly terminalType: string;
  private cols: number;
  private rows: number;

  constructor(options: TelnetNegotiatorOptions = {}) {
    this.terminalType = options.terminalType ?? 'xterm-256color';
    this.cols = options.cols ?? 80;
    this.rows = options.rows ?? 24;
  }

  /** True when the server echoes our input (it said WILL ECHO), so the page must not echo locally. */
  get remoteEcho(): boolean {
    return this.remote.has(OPT_ECHO);
  }

  /** True when option `opt` is enabled on our side (we sent WILL and it stands). */
  isLocalEnabled(opt: number): boolean {
    return this.local.has(opt);
  }

  isRemoteEnabled(opt: number): boolean {
    return this.remote.has(opt);
  }

  /** Feeds bytes from the server; commands may be split across calls at any byte. */
  receive(bytes: Uint8Array): TelnetOutput {
    const data: number[] = [];
    const reply: number[] = [];
    for (const b of bytes) {
      switch (this.state) {
        case State.Data:
          if (b === IAC) {
            this.state = State.Iac;
            continue; // an IAC sequence between CR and NUL does not break the pair
          }
          // RFC 854: the NVT sends a bare CR as CR NUL; the NUL is padding, not data.
          if (!(b === 0 && this.afterCr && !this.remote.has(OPT_BINARY))) data.push(b);
          this.afterCr = b === 13;
          break;
        case State.Iac:
          if (b === IAC) {
            data.push(IAC); // IAC IAC is a literal 0xFF
            this.state = State.Data;
          } else if (b === DO || b === DONT || b === WILL || b === WONT) {
            this.command = b;
            this.state = State.Option;
          } else if (b === SB) {
            this.sb = [];
            this.sbOverflow = false;
            this.state = State.Sb;
          } else {
            // NOP, GA, DM, AYT, ...: nothing for a display client to do.
            this.state = State.Data;
          }
          break;
        case State.Option:
          this.negotiate(this.command, b, reply);
          this.state = State.Data;
          break;
        case State.Sb:
          if (b === IAC) this.state = State.SbIac;
          else this.sbPush(b);
          break;
        case State.SbIac:
          if (b === SE) {
            if (!this.sbOverflow) this.subnegotiation(this.sb, reply);
            this.sb = [];
            this.state = State.Data;
          } else {
            // IAC IAC inside SB is a literal 0xFF; any other byte is a protocol slip we tolerate.
            this.sbPush(b);
            this.state = State.Sb;
          }
          break;
      }
    }
    return { data: Uint8Array.from(data), reply: Uint8Array.from(reply) };
  }

  /** Records a new window size; returns the NAWS report to send (empty if NAWS is not on). */
  resize(cols: number, rows: number): Uint8Array {
    this.cols = clampSize(cols);
    this.rows = clampSize(rows);
    if (!this.local.has(OPT_NAWS)) return new Uint8Array(0);
    const out: number[] = [];
    this.pushNaws(out);
    return Uint8Array.from(out);
  }

  /**
   * Encodes keyboard input (already UTF-8 bytes) for the wire: 0xFF is doubled, and outside
   * BINARY mode a bare CR becomes CR NUL, as RFC 854 requires for the NVT.
   */
  encodeInput(bytes: Uint8Array): Uint8Array {
    const out: number[] = [];
    const binary = this.local.has(OPT_BINARY);
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      out.push(b);
      if (b === IAC) out.push(IAC);
      else if (b === 13 && !binary && bytes[i + 1] !== 10) out.push(0);
    }
    return Uint8Array.from(out);
  }

  private sbPush(b: number): void {
    if (this.sb.length >= MAX_SB) this.sbOverflow = true;
    else this.sb.push(b);
  }

  private negotiate(cmd: number, opt: number, reply: number[]): void {
    switch (cmd) {
      case DO:
        if (!LOCAL_OK.has(opt)) {
          reply.push(IAC, WONT, opt);
        } else if (!this.local.has(opt)) {
          this.local.add(opt);
          reply.push(IAC, WILL, opt);
          // RFC 1073: the client sends its size right after agreeing to NAWS.
          if (opt === OPT_NAWS) this.pushNaws(reply);
        }
        break;
      case DONT:
        if (this.local.delete(opt)) reply.push(IAC, WONT, opt);
        break;
      case WILL:
        if (!REMOTE_OK.has(opt)) {
          reply.push(IAC, DONT, opt);
        } else if (!this.remote.has(opt)) {
          this.remote.add(opt);
          reply.push(IAC, DO, opt);
        }
        break;
      case WONT:
        if (this.remote.delete(opt)) reply.push(IAC, DONT, opt);
        break;
    }
  }

  private subnegotiation(sb: number[], reply: number[]): void {
    // RFC 1091: IAC SB TERMINAL-TYPE SEND IAC SE -> IAC SB TERMINAL-TYPE IS <name> IAC SE,
    // only once we have agreed to the option.
    if (sb[0] === OPT_TTYPE && sb[1] === TTYPE_SEND && this.local.has(OPT_TTYPE)) {
      reply.push(IAC, SB, OPT_TTYPE, TTYPE_IS);
      for (let i = 0; i < this.terminalType.length; i++) reply.push(this.terminalType.charCodeAt(i) & 0x7f);
      reply.push(IAC, SE);
    }
  }

  private pushNaws(out: number[]): void {
    out.push(IAC, SB, OPT_NAWS);
    for (const v of [this.cols >> 8, this.cols & 0xff, this.rows >> 8, this.rows & 0xff]) {
      out.push(v);
      if (v === IAC) out.push(IAC); // a size byte of 255 must be doubled inside SB
    }
    out.push(IAC, SE);
  }
}

function clampSize(n: number): number {
  return Math.max(1, Math.min(0xffff, Math.floor(n)));
}
