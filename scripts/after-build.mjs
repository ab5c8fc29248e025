// Makes the built CLI executable and records when the build happened (./run compares sources to it).
import { chmodSync, writeFileSync } from 'node:fs';
chmodSync(new URL('../dist/src/cli/main.js', import.meta.url), 0o755);
writeFileSync(new URL('../dist/.build-stamp', import.meta.url), new Date().toISOString() + '\n');
