/**
 * Just enough YAML to read the manifests in contrib/ (no dependency for a test): documents split
 * by `---`, block mappings and sequences by indentation (`- key: value` items too), `|` literal
 * blocks, flow collections written as JSON (`["a", "b"]`), quoted and plain scalars, numbers,
 * booleans, null, and `#` comment lines. Anything else (anchors, tags, folded blocks, inline
 * comments) throws, so a manifest that outgrows the subset fails loudly instead of misreading.
 */
export type YamlValue = string | number | boolean | null | YamlValue[] | { [key: string]: YamlValue };

interface Line {
  no: number;
  indent: number;
  text: string;
}

export function parseYamlDocuments(source: string): YamlValue[] {
  const raw = source.replace(/\r\n/g, '\n').split('\n');
  const docs: YamlValue[] = [];
  let start = 0;
  for (let i = 0; i <= raw.length; i++) {
    if (i === raw.length || raw[i]!.trimEnd() === '---') {
      const value = parseDocument(raw, start, i);
      if (value !== undefined) docs.push(value);
      start = i + 1;
    }
  }
  return docs;
}

function parseDocument(raw: string[], from: number, to: number): YamlValue | undefined {
  const parser = new Parser(raw, from, to);
  const first = parser.peek();
  if (first === null) return undefined;
  const value = parser.block(first.indent);
  const rest = parser.peek();
  if (rest !== null) throw new Error(`yaml line ${rest.no}: unexpected indentation`);
  return value;
}

class Parser {
  private i: number;

  constructor(
    private readonly raw: string[],
    from: number,
    private readonly to: number,
  ) {
    this.i = from;
  }

  /** The next structural line (blank and comment lines skipped), not consumed. */
  peek(): Line | null {
    while (this.i < this.to) {
      const text = this.raw[this.i]!;
      const trimmed = text.trim();
      if (trimmed !== '' && !trimmed.startsWith('#')) {
        if (text.includes('\t')) throw new Error(`yaml line ${this.i + 1}: tabs are not allowed`);
        return { no: this.i + 1, indent: text.length - text.trimStart().length, text: trimmed };
      }
      this.i++;
    }
    return null;
  }

  block(indent: number): YamlValue {
    const line = this.peek()!;
    return line.text === '-' || line.text.startsWith('- ') ? this.sequence(indent) : this.mapping(indent, null);
  }

  private sequence(indent: number): YamlValue[] {
    const items: YamlValue[] = [];
    for (let line = this.peek(); line !== null && line.indent === indent && (line.text === '-' || line.text.startsWith('- ')); line = this.peek()) {
      const item = line.text.slice(1).trimStart();
      if (item === '') {
        this.i++;
        items.push(this.nested(indent));
      } else if (keyOf(item) !== null) {
        // `- key: value` starts a mapping whose keys sit where `key` is.
        items.push(this.mapping(indent + (line.text.length - item.length), { ...line, text: item }));
      } else {
        this.i++;
        items.push(scalar(item, line.no));
      }
    }
    return items;
  }

  private mapping(indent: number, firstLine: Line | null): { [key: string]: YamlValue } {
    const map: { [key: string]: YamlValue } = {};
    let pending = firstLine;
    for (;;) {
      const line = pending ?? this.peek();
      if (line === null || (pending === null && line.indent !== indent)) break;
      if (pending === null && (line.text === '-' || line.text.startsWith('- '))) break;
      pending = null;
      const kv = keyOf(line.text);
      if (kv === null) throw new Error(`yaml line ${line.no}: expected "key: value", got ${line.text}`);
      const [key, rest] = kv;
      if (key in map) throw new Error(`yaml line ${line.no}: duplicate key ${key}`);
      this.i++;
      if (rest === '') map[key] = this.nested(indent);
      else if (rest === '|') map[key] = this.literal(indent);
      else map[key] = scalar(rest, line.no);
    }
    return map;
  }

  /** The value under a key or dash with nothing after it: a deeper block, or null. */
  private nested(indent: number): YamlValue {
    const next = this.peek();
    if (next === null || next.indent <= indent) {
      // A sequence may sit at its parent key's indentation (`key:\n- a`).
      if (next !== null && next.indent === indent && next.text.startsWith('- ')) return this.sequence(indent);
      return null;
    }
    return this.block(next.indent);
  }

  /** `|`: the following more-indented lines, verbatim, with one final newline. */
  private literal(indent: number): string {
    const lines: string[] = [];
    let blockIndent = -1;
    while (this.i < this.to) {
      const text = this.raw[this.i]!;
      const own = text.length - text.trimStart().length;
      if (text.trim() !== '' && own <= indent) break;
      if (text.trim() !== '' && blockIndent < 0) blockIndent = own;
      lines.push(text.trim() === '' ? '' : text.slice(blockIndent));
      this.i++;
    }
    while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    return lines.join('\n') + '\n';
  }
}

/** `key: rest` (rest may be empty), or null when the text is not a mapping entry. */
function keyOf(text: string): [string, string] | null {
  const m = /^("[^"]*"|'[^']*'|[^\s"'{[\]#][^:]*?):(?:\s+(.*))?$/.exec(text);
  if (m === null) return null;
  const key = m[1]!.startsWith('"') ? (JSON.parse(m[1]!) as string) : m[1]!.replace(/^'|'$/g, '');
  return [key, (m[2] ?? '').trim()];
}

function scalar(text: string, no: number): YamlValue {
  if (/^[[{"]/.test(text)) {
    try {
      return JSON.parse(text) as YamlValue;
    } catch {
      throw new Error(`yaml line ${no}: flow values must be written as JSON here: ${text}`);
    }
  }
  if (/^'.*'$/.test(text)) return text.slice(1, -1).replace(/''/g, "'");
  if (/\s#/.test(text) || /^[&*!|>]/.test(text)) throw new Error(`yaml line ${no}: unsupported YAML: ${text}`);
  if (text === 'true' || text === 'false') return text === 'true';
  if (text === 'null' || text === '~') return null;
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  return text;
}
