import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { findWrappedProgram } from '../../../src/wrap/find-program.js';
import { tempDir } from '../../support/temp-dir.js';

const { dir, cleanup } = tempDir();
after(cleanup);
const bin = path.join(dir, 'bin');
mkdirSync(bin);
writeFileSync(path.join(bin, 'runnable'), '#!/bin/sh\n');
chmodSync(path.join(bin, 'runnable'), 0o755);
writeFileSync(path.join(bin, 'plain'), 'not a program');
chmodSync(path.join(bin, 'plain'), 0o644);

test('a name is looked up on PATH, a path is taken as given', () => {
  assert.equal(findWrappedProgram('runnable', `/nonexistent:${bin}`), path.join(bin, 'runnable'));
  assert.equal(findWrappedProgram(path.join(bin, 'runnable'), ''), path.join(bin, 'runnable'));
});

test('a missing, non-executable or directory program is refused with the reason in words', () => {
  assert.throws(() => findWrappedProgram('runnable', '/nonexistent'), /wrapped program 'runnable' not found on PATH/);
  assert.throws(() => findWrappedProgram('plain', bin), /'plain' not found on PATH/);
  assert.throws(() => findWrappedProgram(path.join(bin, 'missing'), bin), /'.*missing' not found$/);
  assert.throws(() => findWrappedProgram(path.join(bin, 'plain'), bin), /is not executable/);
  assert.throws(() => findWrappedProgram(bin, bin), /is not a file/);
});
