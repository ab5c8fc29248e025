import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { redactTokenPath } from '../../../src/log/redact.js';

describe('redactTokenPath', () => {
  const CASES: Array<[string, string]> = [
    ['/websockify/abc', '/websockify/[redacted]'],
    ['/abc?x=1', '/[redacted]?x=1'],
    ['/websockify?token=abc', '/websockify?token=[redacted]'],
    ['/novnc/websockify', '/novnc/websockify'],
    ['/novnc/', '/novnc/'],
    ['/x/abc?token=def&a=b', '/x/[redacted]?token=[redacted]&a=b'],
  ];
  for (const [input, expected] of CASES) {
    it(`masks ${input} as ${expected}`, () => assert.equal(redactTokenPath(input), expected));
  }
});
