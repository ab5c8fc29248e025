// Writes docs/cli.md from the option table (src/cli/option-table.ts, built), so the flag reference
// can never drift from the parser. Run after a build: `node scripts/gen-cli-doc.mjs`.
import { writeFileSync } from 'node:fs';
const { OPTIONS } = await import(new URL('../dist/src/cli/option-table.js', import.meta.url));
const { USAGE_LINES } = await import(new URL('../dist/src/cli/usage.js', import.meta.url));
const { OPTION_RANGES } = await import(new URL('../dist/src/config/option-ranges.js', import.meta.url));
const esc = (t) => t.replace(/\|/g, '\\|');
const ranges = Object.entries(OPTION_RANGES).map(([name, r]) => {
  const off = r.off !== undefined ? ` (or ${r.off}: none)` : '';
  return `| \`--${name}\` | ${r.min} | ${r.max} | ${r.unit}${off} |`;
});
const rows = OPTIONS.map((o) => {
  const value = o.kind === 'flag' ? '' : ` ${o.metavar ?? (o.kind === 'choice' ? o.choices.join('\\|') : 'VALUE')}`;
  const names = (o.short ? `\`-${o.short}\`, ` : '') + `\`--${o.long}${value}\``;
  const origin = o.planned ? 'not yet supported' : o.ours ? 'websockify-ts' : 'reference';
  return `| ${names} | ${esc(o.help)} | ${origin}${o.repeatable ? ', repeatable' : ''} |`;
});
const text = `# Command line

Generated from src/cli/option-table.ts by scripts/gen-cli-doc.mjs; do not edit by hand.

\`\`\`
${USAGE_LINES.map((l) => `websockify ${l}`).join('\n')}
\`\`\`

Parsing follows Python optparse, as the reference: \`--opt value\` or \`--opt=value\`; unique prefixes
of long names (a prefix that matches exactly one reference option keeps selecting it even where a
websockify-ts option shares the prefix); combined short flags (\`-vD\`); options and positionals in
any order; \`--\` ends the options (wrap mode). A bad command line prints the usage and
\`websockify: error: <reason>\` and exits 2.

Listen argument: \`[host:]port\`, split at the last colon, brackets stripped: \`6080\` (all IPv4
addresses; \`-6\`: dual-stack \`::\`), \`127.0.0.1:6080\`, \`localhost:6080\`, \`[::]:6080\`, \`[::1]:6080\`,
\`::1:6080\`. No listen argument with \`--inetd\` or \`--unix-listen\`. Target argument: \`host:port\`,
\`[::1]:5900\`, \`::1:5900\`; none with \`--unix-target\`, \`--token-plugin\` or a wrapped command.

| option | meaning | from |
| --- | --- | --- |
${rows.join('\n')}

## Ranges of numeric options

Each number is checked at start against the range the implementation really enforces; a value
outside it is refused with \`websockify: error: option --NAME: VALUE is out of range: ...\` and exit
2, never clamped or taken as "no limit". Durations stop at 2,147,483 seconds (24.8 days), the
longest delay Node's timers keep; \`--max-message-size\` at 1 GiB, since ws stores it as a 32-bit
integer and a text message is held whole. \`--unix-listen-mode\` takes permission bits only (octal
0 to 777). A target port is 1 to 65535; a listen port may be 0 (any free port).

| option | min | max | unit |
| --- | --- | --- | --- |
${ranges.join('\n')}
`;
writeFileSync(new URL('../docs/cli.md', import.meta.url), text);
console.log(`docs/cli.md: ${OPTIONS.length} options`);
