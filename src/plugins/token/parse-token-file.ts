import type { TargetSpec } from '../../config/config.js';
import { parseTarget } from './parse-target.js';

interface TokenFileLineError {
  /** 1-based line number within that file (the reference counts across files: fixed). */
  line: number;
  /**
   * What is wrong, in words an operator can fix the line with. Never the line's text: a line
   * written the wrong way round (`host:5900: token`) or without the separator holds a token.
   */
  message: string;
}

interface ParsedTokenFile {
  targets: Map<string, TargetSpec>;
  errors: TokenFileLineError[];
}

/** `re.split(r':\s', line)` in the reference: a colon followed by one whitespace character. */
const SEPARATOR = /:\s/;

/**
 * The token-file grammar of websockify 0.13.0 (the parity target; master stopped stripping lines, docs/plugins.md):
 *
 * - each line is stripped of surrounding whitespace; blank lines and lines starting with `#`
 *   (after stripping) are skipped;
 * - the line splits on a colon followed by one whitespace character and must give exactly two
 *   parts, `token` and `target` (so `t3:127.0.0.1:5900` and `t8: host: 1` are syntax errors);
 * - the key is kept as written (`t7 : x` gives the key `t7 `, as the reference);
 * - the target is parsed by parseTarget (IPv6 with or without brackets, `unix_socket:/path`);
 *   a target without a valid port is a syntax error here rather than a failed connect later;
 * - a later line for the same token overrides an earlier one.
 */
export function parseTokenFile(text: string): ParsedTokenFile {
  const targets = new Map<string, TargetSpec>();
  const errors: TokenFileLineError[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const parts = line.split(SEPARATOR);
    const wrong =
      parts.length === 1
        ? 'no ": " (a colon and a space) after the token; expected "token: host:port"'
        : parts.length > 2
          ? 'more than one ": " (a colon and a space); expected "token: host:port"'
          : parts[0] === ''
            ? 'nothing before ": "; expected "token: host:port"'
            : null;
    if (wrong !== null) {
      errors.push({ line: i + 1, message: wrong });
      continue;
    }
    const target = parseTarget(parts[1]!);
    if (target === null) {
      errors.push({ line: i + 1, message: 'the target is not host:port, [ipv6]:port or unix_socket:/path' });
      continue;
    }
    targets.set(parts[0]!, target);
  }
  return { targets, errors };
}
