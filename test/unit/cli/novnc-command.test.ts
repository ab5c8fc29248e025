import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { consoleUrl, novncCommandArgv } from '../../../src/cli/novnc-command.js';
import { UsageError } from '../../../src/errors.js';

describe('the novnc subcommand (novnc_proxy words)', () => {
  it('defaults to listening on 6080 and a VNC server at localhost:5900', () => {
    assert.deepEqual(novncCommandArgv([]), ['--novnc', '6080', 'localhost:5900']);
  });

  it('takes --listen and --vnc in both spellings and passes other options through', () => {
    assert.deepEqual(novncCommandArgv(['--listen', '127.0.0.1:7000', '--vnc=vnc.example:5901', '--cert', 'x.pem', '--ssl-only']), [
      '--novnc',
      '--cert',
      'x.pem',
      '--ssl-only',
      '127.0.0.1:7000',
      'vnc.example:5901',
    ]);
  });

  it('lets --web replace the built-in console', () => {
    assert.deepEqual(novncCommandArgv(['--web=/usr/share/novnc']), ['--web=/usr/share/novnc', '6080', 'localhost:5900']);
  });

  it('refuses a stray word and a flag without its value', () => {
    assert.throws(() => novncCommandArgv(['6080']), UsageError);
    assert.throws(() => novncCommandArgv(['--vnc']), UsageError);
  });

  it('prints a URL users can open, with localhost for a wildcard bind', () => {
    assert.equal(consoleUrl({ host: '0.0.0.0', port: 6080 }, false), 'http://localhost:6080/vnc.html?host=localhost&port=6080');
    assert.equal(consoleUrl({ host: '::', port: 6080 }, false), 'http://localhost:6080/vnc.html?host=localhost&port=6080');
    assert.equal(consoleUrl({ host: '::1', port: 6080 }, true), 'https://[::1]:6080/vnc.html?host=%3A%3A1&port=6080');
    assert.equal(consoleUrl({ host: '127.0.0.1', port: 6080 }, false), 'http://127.0.0.1:6080/vnc.html?host=127.0.0.1&port=6080');
  });
});
