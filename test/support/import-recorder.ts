import { register } from 'node:module';

/**
 * `node --import <this file>` with WSFY_IMPORT_LOG=<file>: the process writes every module it
 * resolves to that file (import-recorder-hooks.ts).
 */
register('./import-recorder-hooks.js', import.meta.url, { data: { logFile: process.env.WSFY_IMPORT_LOG ?? '' } });
