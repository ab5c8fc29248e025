import { UsageError } from '../errors.js';
import type { OptionSpec } from './option-table.js';

export type OptionValue = string | number | boolean | string[];

export interface ParsedArgv {
  /** Keyed by OptionSpec.long; only options that were given. */
  options: Map<string, OptionValue>;
  /** Positionals before `--`. */
  positionals: string[];
  /** Everything after the first `--` (the wrap-mode command), or null when there was no `--`. */
  afterDoubleDash: string[] | null;
}

/**
 * An optparse-compatible parser (the reference uses Python optparse): `--opt v` and `--opt=v`,
 * unique prefixes of long names, combined short flags (`-vD`), a short option's value attached
 * (`-ofile`) or separate, options and positionals mixed, and `--` ending option parsing.
 * Error texts follow optparse's, so scripts that grep them keep working.
 */
export function parseArgv(argv: readonly string[], specs: readonly OptionSpec[]): ParsedArgv {
  const options = new Map<string, OptionValue>();
  const positionals: string[] = [];
  let afterDoubleDash: string[] | null = null;

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      afterDoubleDash = argv.slice(i + 1);
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      const spec = matchLong(name, specs);
      if (spec.kind === 'flag') {
        if (eq !== -1) throw new UsageError(`--${spec.long} option does not take a value`);
        store(options, spec, true);
        continue;
      }
      let raw: string;
      if (eq !== -1) raw = arg.slice(eq + 1);
      else {
        if (i + 1 >= argv.length) throw new UsageError(`--${spec.long} option requires 1 argument`);
        raw = argv[++i]!;
      }
      store(options, spec, convert(spec, `--${spec.long}`, raw));
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      // A run of short options: flags may be combined; the first one taking a value consumes
      // the rest of the word, or the next word.
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j]!;
        const spec = specs.find((s) => s.short === letter);
        if (!spec) throw new UsageError(`no such option: -${letter}`);
        if (spec.kind === 'flag') {
          store(options, spec, true);
          continue;
        }
        let raw: string;
        if (j + 1 < arg.length) raw = arg.slice(j + 1);
        else {
          if (i + 1 >= argv.length) throw new UsageError(`-${letter} option requires 1 argument`);
          raw = argv[++i]!;
        }
        store(options, spec, convert(spec, `-${letter}`, raw));
        break;
      }
      continue;
    }
    positionals.push(arg);
  }
  return { options, positionals, afterDoubleDash };
}

function matchLong(name: string, specs: readonly OptionSpec[]): OptionSpec {
  const exact = specs.find((s) => s.long === name);
  if (exact) return exact;
  const candidates = name === '' ? [] : specs.filter((s) => s.long.startsWith(name));
  if (candidates.length === 1) return candidates[0]!;
  if (candidates.length === 0) throw new UsageError(`no such option: --${name}`);
  // Our added options must not make a prefix that worked with the reference ambiguous:
  // `--heart 5` still means --heartbeat although --heartbeat-timeout now exists.
  const reference = candidates.filter((s) => !s.ours);
  if (reference.length === 1) return reference[0]!;
  const names = candidates.map((s) => `--${s.long}`).join(', ');
  throw new UsageError(`ambiguous option: --${name} (${names}?)`);
}

function store(options: Map<string, OptionValue>, spec: OptionSpec, value: string | number | boolean): void {
  if (spec.repeatable) {
    const list = (options.get(spec.long) as string[] | undefined) ?? [];
    list.push(String(value));
    options.set(spec.long, list);
  } else {
    options.set(spec.long, value);
  }
}

const BYTE_SUFFIX: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

function convert(spec: OptionSpec, shown: string, raw: string): string | number {
  switch (spec.kind) {
    case 'int': {
      if (!/^\s*[+-]?\d+\s*$/.test(raw)) throw new UsageError(`option ${shown}: invalid integer value: '${raw}'`);
      return Number(raw);
    }
    case 'number': {
      const value = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(value) || value < 0) {
        throw new UsageError(`option ${shown}: invalid number value: '${raw}'`);
      }
      return value;
    }
    case 'bytes': {
      const match = /^\s*(\d+)\s*([kmg]?)i?b?\s*$/i.exec(raw);
      if (!match) throw new UsageError(`option ${shown}: invalid size value: '${raw}' (use e.g. 65536, 64K, 16M)`);
      return Number(match[1]) * BYTE_SUFFIX[match[2]!.toLowerCase()]!;
    }
    case 'choice': {
      const choices = spec.choices ?? [];
      if (!choices.includes(raw)) {
        const list = choices.map((c) => `'${c}'`).join(', ');
        throw new UsageError(`option ${shown}: invalid choice: '${raw}' (choose from ${list})`);
      }
      return raw;
    }
    default:
      return raw;
  }
}
