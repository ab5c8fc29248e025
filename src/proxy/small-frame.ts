import { Buffer } from 'node:buffer';

/**
 * One unmasked binary WebSocket frame (RFC 6455 §5.2), header and payload in one buffer, for a
 * small server-to-client message written straight to the client's socket.
 *
 * ws's `send()` writes a frame as two buffers (header, payload) between cork() and uncork():
 * for a 64-byte echo that is an options object, a two-item list, two entries in the socket's
 * write buffer and a writev array, ~1 KiB of short-lived objects per message (V8's sampling heap
 * profiler, objects collected by the young generation included). Copying a payload this small
 * into a pooled buffer costs less than that, and the frame goes out in one write. Larger payloads
 * keep ws's path, which does not copy them. The bytes are what ws would send for the same
 * message (test/unit/proxy/small-frame.test.ts compares them).
 */

/** Payloads up to this size are framed here (the 2-byte and 4-byte header forms). */
export const SMALL_FRAME_MAX_PAYLOAD = 16 * 1024;

export function smallBinaryFrame(payload: Buffer): Buffer {
  const length = payload.length;
  if (length > SMALL_FRAME_MAX_PAYLOAD) throw new RangeError(`payload of ${length} bytes is too large for a small frame`);
  const headerLength = length > 125 ? 4 : 2;
  // allocUnsafe takes small buffers from Node's shared pool: no allocation outside the heap.
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x82; // FIN, opcode 2 (binary)
  if (headerLength === 2) {
    frame[1] = length;
  } else {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  }
  payload.copy(frame, headerLength);
  return frame;
}
