/**
 * Base64 (RFC 4648 section 4, with padding) for the `base64` subprotocol. Written here rather than
 * using atob/btoa because those work on "binary strings", which costs an extra copy per message and
 * is easy to misuse with bytes >= 0x80; this module works on Uint8Array directly and runs unchanged
 * in browsers and Node.
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Maps a char code to its 6-bit value, or 255 for a character outside the alphabet. */
const DECODE_TABLE: Uint8Array = (() => {
  const table = new Uint8Array(256).fill(255);
  for (let i = 0; i < ALPHABET.length; i++) table[ALPHABET.charCodeAt(i)] = i;
  return table;
})();

export class Base64Error extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Base64Error';
  }
}

export function encodeBase64(bytes: Uint8Array): string {
  const parts: string[] = [];
  // Build the string in slices so one huge message does not create one huge intermediate array.
  const SLICE = 3 * 8192;
  for (let start = 0; start < bytes.length; start += SLICE) {
    const end = Math.min(start + SLICE, bytes.length);
    let out = '';
    let i = start;
    for (; i + 2 < end; i += 3) {
      const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
      out += ALPHABET[(n >> 18) & 63]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]! + ALPHABET[n & 63]!;
    }
    const rest = end - i;
    if (rest === 1) {
      const n = bytes[i]! << 16;
      out += ALPHABET[(n >> 18) & 63]! + ALPHABET[(n >> 12) & 63]! + '==';
    } else if (rest === 2) {
      const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
      out += ALPHABET[(n >> 18) & 63]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]! + '=';
    }
    parts.push(out);
  }
  return parts.join('');
}

/**
 * Decodes standard base64. Whitespace is not allowed (the old Websock protocol never sent any);
 * a length that is not a multiple of 4 or a stray character throws Base64Error, so a corrupted
 * stream is reported instead of silently turned into wrong bytes.
 */
export function decodeBase64(text: string): Uint8Array {
  if (text.length % 4 !== 0) throw new Base64Error(`base64 length ${text.length} is not a multiple of 4`);
  let pad = 0;
  if (text.length > 0 && text.charCodeAt(text.length - 1) === 61) pad++;
  if (text.length > 1 && text.charCodeAt(text.length - 2) === 61) pad++;
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    const last = i + 4 === text.length;
    const a = DECODE_TABLE[text.charCodeAt(i)]!;
    const b = DECODE_TABLE[text.charCodeAt(i + 1)]!;
    const cCode = text.charCodeAt(i + 2);
    const dCode = text.charCodeAt(i + 3);
    const c = last && pad >= 2 && cCode === 61 ? 0 : DECODE_TABLE[cCode]!;
    const d = last && pad >= 1 && dCode === 61 ? 0 : DECODE_TABLE[dCode]!;
    if ((a | b | c | d) > 63) throw new Base64Error(`invalid base64 character near offset ${i}`);
    const n = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = (n >> 16) & 255;
    if (o < out.length) out[o++] = (n >> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  return out;
}
