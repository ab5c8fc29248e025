/**
 * The reverse-connection ID (docs/reverse.md). A VNC server in UltraVNC repeater "mode II"
 * sends, before RFB starts, a fixed 250-byte block holding the ASCII string `ID:<id>`, padded
 * with zero bytes (x11vnc `-connect repeater=ID:1234+host:port`, UltraVNC and TightVNC servers).
 * A browser reaches it with a token whose target is `reverse:<id>`; the ID's syntax and that
 * target are in config/reverse-id.ts.
 */

import { isValidReverseId } from '../config/reverse-id.js';

/** cli/build-config.ts reads these here; they live in config/, below the token plugins. */

/** The block every repeater-aware server sends first. */
export const REPEATER_ID_BLOCK_BYTES = 250;

type IdBlockResult = { ok: true; id: string } | { ok: false; reason: string };

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
