import { createRequire } from 'node:module';

/**
 * The `ws` package, loaded with require() rather than import. `ws` is CommonJS; importing it from
 * an ES module makes Node scan each of its files for export names (cjs-module-lexer), and at
 * startup that scanner ran hot enough for V8 to optimize it. Measured (a fresh proxy up to its
 * `Listen on` line, 8 starts each): 320-380 ms of CPU and 63.9 MiB RSS with import, 240-290 ms and
 * 56.8 MiB with require (docs/performance.md, "Starting up"). A process started per connection
 * (--inetd, --run-once) pays that on every connection.
 */
export const wsPackage = createRequire(import.meta.url)('ws') as typeof import('ws');
