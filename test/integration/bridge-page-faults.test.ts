import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import { test } from 'node:test';
import { TRIM_RAISING_BYTES } from '../../src/proxy/malloc-trim.js';
import { startProxy } from '../support/proxy-process.js';
import { startTcpTarget, writeRepeated } from '../support/targets.js';
import { closeEvent, openClient } from '../support/ws-client.js';

/**
 * A download must reuse the memory the proxy reads into. Every 64 KiB read gets a buffer that
 * is freed in batches by the collector; if malloc hands those batches back to the kernel, the
 * next reads fault every page in again (zeroed by the kernel), and the CPU a MiB costs nearly
 * triples (src/proxy/malloc-trim.ts). Counted here as the proxy's minor page faults.
 */

const MiB = 1024 * 1024;
const PAGE = 4096;
const DOWNLOAD = 128 * MiB;

/** Minor page faults of one process so far (/proc/PID/stat, field 10). */
function minorFaults(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[7]);
}

test('a fresh proxy moving 128 MiB down faults in fewer than one page in four of what it moves', { timeout: 120_000 }, async () => {
  const block = Buffer.alloc(64 * 1024, 0x61);
  const target = await startTcpTarget((socket: net.Socket) =>
    writeRepeated(
      socket,
      block,
      DOWNLOAD,
      () => undefined,
      () => socket.end(),
    ),
  );
  const proxy = await startProxy(['127.0.0.1:0', `127.0.0.1:${target.port}`]);
  try {
    const pid = proxy.proc.pid!;
    const before = minorFaults(pid);
    const ws = await openClient(`ws://127.0.0.1:${proxy.port}/`);
    let received = 0;
    ws.on('message', (data: Buffer) => (received += data.length));
    const closed = await closeEvent(ws, 100_000);
    assert.equal(closed.code, 1000, closed.reason);
    assert.equal(received, DOWNLOAD);
    const faults = minorFaults(pid) - before;
    const pagesMoved = DOWNLOAD / PAGE;
    console.log(`# ${faults} minor page faults for ${pagesMoved} pages moved (malloc's trim threshold raised by a ${TRIM_RAISING_BYTES / MiB} MiB block)`);
    assert.ok(faults < pagesMoved / 4, `${faults} page faults for ${DOWNLOAD / MiB} MiB moved`);
  } finally {
    await proxy.stop();
    await target.close();
  }
});
