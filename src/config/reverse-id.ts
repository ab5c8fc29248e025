/**
 * A reverse-connection ID as a token source or the command line writes it (docs/reverse.md): a
 * browser reaches a VNC server that connected in with ID `1234` with a token whose target is
 * `reverse:1234`. Pure text rules, shared by the token plugins' target parser, the command line
 * and the reverse listener, which reads the same ID from the server's 250-byte block
 * (reverse/reverse-id.ts).
 */

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
