import { OPTIONS, type OptionSpec } from './option-table.js';

export const USAGE_LINES = [
  '[options] [source_addr:]source_port target_addr:target_port',
  '[options] --token-plugin=CLASS [source_addr:]source_port',
  '[options] --unix-target=FILE [source_addr:]source_port',
  '[options] [source_addr:]source_port -- WRAP_COMMAND_LINE',
  'novnc [--listen [HOST:]PORT] [--vnc HOST:PORT] [options]',
];

export function usageText(prog: string): string {
  const [first, ...rest] = USAGE_LINES;
  const pad = ' '.repeat('Usage: '.length + prog.length + 1);
  return `Usage: \n    ${prog} ${first}\n${rest.map((l) => `    ${prog} ${l}`).join('\n')}\n`.replace(pad, pad);
}

function optionLabel(spec: OptionSpec): string {
  const value = spec.kind === 'flag' ? '' : `=${spec.metavar ?? (spec.kind === 'choice' ? (spec.choices ?? []).join('|') : 'VALUE')}`;
  return spec.short ? `-${spec.short}, --${spec.long}${value}` : `--${spec.long}${value}`;
}

export function helpText(prog: string): string {
  const lines = OPTIONS.map((spec) => {
    const label = optionLabel(spec);
    const note = spec.planned ? ' [not yet supported]' : '';
    return label.length > 28 ? `  ${label}\n${' '.repeat(32)}${spec.help}${note}` : `  ${label.padEnd(30)}${spec.help}${note}`;
  });
  return `${usageText(prog)}\nOptions:\n${lines.join('\n')}\n`;
}
