import { OPTION_GROUPS, OPTIONS, type OptionGroup, type OptionSpec } from './option-table.js';

export const USAGE_LINES = [
  '[options] [source_addr:]source_port target_addr:target_port',
  '[options] --token-plugin=CLASS [source_addr:]source_port',
  '[options] --unix-target=FILE [source_addr:]source_port',
  '[options] [source_addr:]source_port -- WRAP_COMMAND_LINE',
  'novnc [--listen [HOST:]PORT] [--vnc HOST:PORT] [options]',
];

/** The `novnc` subcommand's own words (src/cli/novnc-command.ts); every other option also works. */
export const NOVNC_OPTIONS: ReadonlyArray<{ label: string; help: string }> = [
  { label: '--listen=[HOST:]PORT', help: 'where the console and proxy listen (default 6080, all addresses)' },
  { label: '--vnc=HOST:PORT', help: 'the VNC server to proxy to (default localhost:5900)' },
  { label: '--web=DIR', help: 'serve DIR (a noVNC checkout, /usr/share/novnc) instead of the built-in console' },
];

/** Help is wrapped to this many columns when the terminal's width is not known. */
const DEFAULT_HELP_WIDTH = 80;
/** Narrower terminals still get 60 columns: below that the help column would be unreadable. */
const MIN_HELP_WIDTH = 60;

/**
 * The width to wrap help to: the terminal's (`columns` of a TTY stdout), else $COLUMNS, else 80;
 * never below 60.
 */
export function helpWidth(columns: number | undefined, env: NodeJS.ProcessEnv): number {
  const fromEnv = Number(env.COLUMNS);
  const width = columns && columns > 0 ? columns : Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : DEFAULT_HELP_WIDTH;
  return Math.max(MIN_HELP_WIDTH, width);
}

/** `Usage: ` with optparse's trailing space, as the reference prints it (scripts may match it). */
export function usageText(prog: string, width: number = DEFAULT_HELP_WIDTH): string {
  const lines = USAGE_LINES.flatMap((l) => wrapWords(`${prog} ${l}`, width - 8).map((w, i) => (i === 0 ? '    ' : '        ') + w));
  return `Usage: \n${lines.join('\n')}\n`;
}

function optionLabel(spec: OptionSpec): string {
  const value = spec.kind === 'flag' ? '' : `=${spec.metavar ?? (spec.kind === 'choice' ? (spec.choices ?? []).join('|') : 'VALUE')}`;
  return spec.short ? `-${spec.short}, --${spec.long}${value}` : `--${spec.long}${value}`;
}

/** Splits `text` at spaces into lines of at most `width` characters (a longer word stands alone). */
function wrapWords(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line === '') line = word;
    else if (line.length + 1 + word.length <= width) line += ` ${word}`;
    else {
      lines.push(line);
      line = word;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}

/** One option: the label in a column, its help wrapped beside it (or below a long label). */
function entry(label: string, help: string, width: number): string[] {
  const indent = width >= 100 ? 32 : 24;
  const helpLines = wrapWords(help, width - indent);
  const pad = ' '.repeat(indent);
  const head = `  ${label}`;
  if (head.length <= indent - 2) {
    const [first = '', ...rest] = helpLines;
    return [`${head.padEnd(indent)}${first}`.trimEnd(), ...rest.map((l) => pad + l)];
  }
  return [head, ...helpLines.map((l) => pad + l)];
}

/** `--help`: the usage, then the options by section, wrapped to `width` columns. */
export function helpText(prog: string, width: number = DEFAULT_HELP_WIDTH): string {
  const sections = new Map<string, string[]>(Object.values(OPTION_GROUPS).map((title) => [title, []]));
  for (const spec of OPTIONS) {
    const title = spec.group ? OPTION_GROUPS[spec.group as OptionGroup] : 'Other';
    const note = spec.planned ? ' [not yet supported]' : '';
    if (!sections.has(title)) sections.set(title, []);
    sections.get(title)!.push(...entry(optionLabel(spec), spec.help + note, width));
  }
  const novnc = NOVNC_OPTIONS.flatMap((o) => entry(o.label, o.help, width));
  sections.set(`The novnc subcommand (${prog} novnc [OPTIONS])`, novnc);
  const body = [...sections].filter(([, lines]) => lines.length > 0).map(([title, lines]) => `${title}:\n${lines.join('\n')}\n`);
  return `${usageText(prog, width)}\n${body.join('\n')}`;
}
