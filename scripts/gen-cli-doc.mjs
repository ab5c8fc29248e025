// Writes docs/cli.md from the option table (src/cli/option-table.ts, built), so the flag reference
// can never drift from the parser. Run after a build: `node scripts/gen-cli-doc.mjs`.
import { writeFileSync } from 'node:fs';
const { OPTIONS, OPTION_GROUPS } = await import(new URL('../dist/src/cli/option-table.js', import.meta.url));
const { USAGE_LINES, NOVNC_OPTIONS } = await import(new URL('../dist/src/cli/usage.js', import.meta.url));
const { OPTION_RANGES } = await import(new URL('../dist/src/config/option-ranges.js', import.meta.url));
const esc = (t) => t.replace(/\|/g, '\\|');
const ranges = Object.entries(OPTION_RANGES).map(([name, r]) => {
  const off = r.off !== undefined ? ` (or ${r.off}: none)` : '';
  return `| \`--${name}\` | ${r.min} | ${r.max} | ${r.unit}${off} |`;
});
const row = (o) => {
  const value = o.kind === 'flag' ? '' : ` ${o.metavar ?? (o.kind === 'choice' ? o.choices.join('\\|') : 'VALUE')}`;
  const names = (o.short ? `\`-${o.short}\`, ` : '') + `\`--${o.long}${value}\``;
  const origin = o.planned ? 'not yet supported' : o.ours ? 'websockify-ts' : 'reference';
  return `| ${names} | ${esc(o.help)} | ${origin}${o.repeatable ? ', repeatable' : ''} |`;
};
// One table per section of --help, in its order; an option without a section goes under Other.
const sections = [...Object.entries(OPTION_GROUPS), ['', 'Other']].map(([key, title]) => {
  const rows = OPTIONS.filter((o) => (o.group ?? '') === key).map(row);
  return rows.length === 0 ? '' : `### ${title}\n\n| option | meaning | from |\n| --- | --- | --- |\n${rows.join('\n')}\n`;
}).filter(Boolean);
const novnc = NOVNC_OPTIONS.map((o) => `| \`${o.label.replace('=', ' ')}\` | ${esc(o.help)} |`);
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

A Unix socket for a web server on the same host (docs/nginx.md): \`--unix-listen PATH
--unix-listen-mode 660 --unix-listen-group www-data\` makes the socket readable and writable by
its owner and by the group the web server's workers run as, and by nobody else. The group (a name
or a numeric gid) is set with chown after the bind, so websockify must run as root or as a member
of that group; a name that is not a group stops the start with
\`websockify: --unix-listen-group NAME: no such group\` (exit 1).

\`websockify --version\` prints \`websockify-ts X.Y.Z\` and exits 0; \`websockify --help\` lists the
options below by section, wrapped to the terminal's width (\`$COLUMNS\` when not a terminal, else 80
columns; never fewer than 60).

## Options

${sections.join('\n')}
## The novnc subcommand

\`websockify novnc\` serves the built-in noVNC console and proxies to one VNC server, like noVNC's
\`utils/novnc_proxy\`. Its own words are below; every option above works after them too.

| option | meaning |
| --- | --- |
${novnc.join('\n')}

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
