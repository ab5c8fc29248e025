/**
 * Splits a TokenRedis source like `str.split(':')`, except that a field wrapped in double
 * quotes may contain colons: `host::::"ns1:ns2"`. This reproduces the reference's
 * `parse_source_args` field by field, including its edge cases (table tests in
 * test/unit/plugins/parse-redis-source.test.ts):
 *
 * - a field starts at the beginning and after each colon that ends a field;
 * - a field that starts with `"` and whose next `"` (with at least one character between) is
 *   followed by `:` or the end is the quoted text, quotes removed;
 * - any other field runs to the next colon, quotes and all (`"local:host:"pass"` gives
 *   `"local`, `host`, `pass`).
 */
export function parseSourceArgs(source: string): string[] {
  const fields: string[] = [];
  let start = 0;
  for (;;) {
    if (source[start] === '"') {
      const close = source.indexOf('"', start + 1);
      if (close > start + 1 && (close + 1 === source.length || source[close + 1] === ':')) {
        fields.push(source.slice(start + 1, close));
        if (close + 1 === source.length) return fields;
        start = close + 2;
        continue;
      }
    }
    const colon = source.indexOf(':', start);
    if (colon === -1) {
      fields.push(source.slice(start));
      return fields;
    }
    fields.push(source.slice(start, colon));
    start = colon + 1;
  }
}

export interface RedisSource {
  host: string;
  port: number;
  db: number;
  password: string | null;
  /** Key prefix: the namespace plus `:`, or '' without a namespace. */
  namespace: string;
}

/**
 * `host[:port[:db[:password[:namespace]]]]`; empty port, db and password mean 6379, 0 and none.
 * The reference calls sys.exit() with status 0 on a bad source; we throw, and the CLI exits 1
 * with this message (the source itself is not echoed: it may hold a password).
 */
export function parseRedisSource(source: string): RedisSource {
  const format = 'expected <host>[:<port>[:<db>[:<password>[:<namespace>]]]]';
  const fields = parseSourceArgs(source);
  if (fields.length > 5) throw new Error(`TokenRedis: --token-source has more than 5 fields; ${format}`);
  const [host = '', port = '', db = '', password = '', namespace = ''] = fields;
  const portNumber = port === '' ? 6379 : strictInt(port);
  const dbNumber = db === '' ? 0 : strictInt(db);
  if (portNumber === null || portNumber < 1 || portNumber > 65535) throw new Error(`TokenRedis: --token-source port is not a port number; ${format}`);
  if (dbNumber === null || dbNumber < 0) throw new Error(`TokenRedis: --token-source db is not a number; ${format}`);
  return {
    host: host === '' ? 'localhost' : host,
    port: portNumber,
    db: dbNumber,
    password: password === '' ? null : password,
    namespace: namespace === '' ? '' : `${namespace}:`,
  };
}

/** Python `int()` accepts surrounding spaces and a sign. */
function strictInt(text: string): number | null {
  return /^\s*[+-]?\d+\s*$/.test(text) ? Number(text) : null;
}
