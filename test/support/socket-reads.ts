import type net from 'node:net';
import { waitFor } from './wait.js';

/** Bytes in all of `buffers`. */
export const totalLength = (buffers: readonly Buffer[]): number => buffers.reduce((sum, buffer) => sum + buffer.length, 0);

/**
 * Writes `parts` one at a time, each after `reader` has taken the one before, so each arrives in
 * a read of its own; resolves with the chunks `reader` emitted.
 */
export async function oneReadEach(writer: net.Socket, reader: net.Socket, parts: readonly (Buffer | string)[]): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  reader.on('data', (chunk: Buffer) => chunks.push(chunk));
  let expected = 0;
  for (const part of parts) {
    expected += Buffer.byteLength(part);
    writer.write(part);
    await waitFor(() => totalLength(chunks) >= expected, { what: 'the part to arrive' });
  }
  return chunks;
}
