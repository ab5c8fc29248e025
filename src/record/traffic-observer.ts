import type { Writable } from 'node:stream';
import type { SessionObserver } from '../proxy/session-observer.js';

/**
 * The reference's legend, byte for byte (it is printed with Python's print(), hence the blank
 * line before and the extra newline after). It says `>.` for a partial target write, but the
 * reference's code prints `.>`; we keep the legend text unchanged so tools that match it keep
 * working, and we never print either token (see below and docs/operations.md).
 */
export const TRAFFIC_LEGEND =
  '\nTraffic Legend:\n' +
  '    }  - Client receive\n' +
  '    }. - Client receive partial\n' +
  '    {  - Target receive\n' +
  '\n' +
  '    >  - Target send\n' +
  '    >. - Target send partial\n' +
  '    <  - Client send\n' +
  '    <. - Client send partial\n' +
  '\n';

/**
 * `--traffic`: one token per event on stdout, outside the log stream, as the reference.
 * `}` a client message received, then `>` once it is handed to the target; `{` a target chunk
 * received, then `<` once it is handed to the client. Node never reports a partial write (the
 * socket buffers what it cannot send yet, and the bridge pauses the other side instead), and
 * the WebSocket parser hands over whole messages only, so `}.`, `.>` and `<.` never appear.
 */
export class TrafficObserver implements SessionObserver {
  constructor(private readonly out: Writable) {}

  /** Call once when the session starts proxying (the reference prints it per session). */
  start(): void {
    this.out.write(TRAFFIC_LEGEND);
  }

  onClientMessage(): void {
    this.out.write('}>');
  }

  onTargetData(): void {
    this.out.write('{<');
  }
}
