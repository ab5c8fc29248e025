/**
 * The reverse-connection ID (docs/reverse.md). A VNC server in UltraVNC repeater "mode II"
 * sends, before RFB starts, a fixed 250-byte block holding the ASCII string `ID:<id>`, padded
 * with zero bytes (x11vnc `-connect repeater=ID:1234+host:port`, UltraVNC and TightVNC servers).
 * A browser reaches it with a token whose target is `reverse:<id>`.
 */

/** The block every repeater-aware server sends first. */
export const REPEATER_ID_BLOCK_BYTES = 250;

/** How a token source writes a reverse target: `mytoken: reverse:1234`. */
export const REVERSE_PREFIX = 'reverse:';

/**
 * UltraVNC documents decimal IDs; other servers send letters too. We accept 1-64 characters of
 * letters, digits, `.`, `_` and `-`: anything else (spaces, controls, bytes above 0x7f) would
 * only reach a log or a map key, so it is refused.
 */
const ID_SYNTAX = /^[A-Za-z0-9._-]{1,64}$/;

export function isValidReverseId(id: string): boolean {
  return ID_SYNTAX.test(id);
}

/** `reverse:<id>` as written in a token source, or null when the text is not one. */
export function parseReverseTarget(text: string): string | null {
  const value = text.trim();
  if (!value.startsWith(REVERSE_PREFIX)) return null;
  const id = value.slice(REVERSE_PREFIX.length).trim();
  return isValidReverseId(id) ? id : null;
}

export type IdBlockResult = { ok: true; id: string } | { ok: false; reason: string };

/**
 * Reads the 250-byte block: `ID:` then the ID, then only zero bytes. The ID ends at the first
 * zero byte (some servers send a newline or spaces before the padding: trailing whitespace is
 * dropped).
 */
export function parseIdBlock(block: Buffer): IdBlockResult {
  if (block.length !== REPEATER_ID_BLOCK_BYTES) return { ok: false, reason: 'short id block' };
  const nul = block.indexOf(0);
  const text = block.subarray(0, nul === -1 ? block.length : nul).toString('latin1');
  if (nul !== -1) {
    for (let i = nul; i < block.length; i++) if (block[i] !== 0) return { ok: false, reason: 'id block not zero-padded' };
  }
  if (!text.startsWith('ID:')) return { ok: false, reason: 'id block does not start with ID:' };
  const id = text.slice(3).trimEnd();
  if (!isValidReverseId(id)) return { ok: false, reason: 'malformed id' };
  return { ok: true, id };
}
