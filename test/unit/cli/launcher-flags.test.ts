import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LAUNCHER_NODE_FLAGS, shebangNodeFlags } from '../../support/proxy-process.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const read = (file: string): string => readFileSync(`${root}${file}`, 'utf8');

// The proxy's Node flags (docs/performance.md, "Garbage collection") are written in three
// launchers: the bin's shebang, ./run and the container's entrypoint. They must not drift apart.
describe('launchers pass the same Node flags', () => {
  const flags = shebangNodeFlags(read('src/cli/main.ts')).join(' ');

  it('the CLI entry passes the collector flags through env -S', () => {
    assert.equal(flags, '--single-threaded-gc');
  });

  it('the tests start the proxy with the same flags', () => {
    assert.deepEqual(LAUNCHER_NODE_FLAGS, flags.split(/\s+/));
  });

  it('./run starts node with the same flags', () => {
    assert.match(read('run'), new RegExp(`^exec node ${flags} "\\$here/dist/src/cli/main\\.js" "\\$@"$`, 'm'));
  });

  it('the container entrypoint starts node with the same flags', () => {
    const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(read('contrib/docker/Dockerfile'))?.[1] ?? '[]';
    const argv = JSON.parse(entrypoint) as string[];
    const expected = ['node', ...flags.split(/\s+/), '/app/dist/src/cli/main.js'];
    assert.deepEqual(argv.slice(0, expected.length), expected);
  });
});
