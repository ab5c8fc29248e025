/**
 * The reference's escaping of recorded bytes (websockify `recv_frames` / `send_frames`):
 *   buf.decode('latin1').encode('unicode_escape').decode('ascii').replace("'", "\\'")
 * Python's unicode_escape on latin1 text: `\` -> `\\`, TAB/LF/CR -> `\t` `\n` `\r`, other bytes
 * below 0x20 and 0x7f..0xff -> `\xNN` (lower-case hex), printable ASCII unchanged. The quote is
 * then escaped so the entry stays inside its JavaScript string. noVNC's playback reads it back.
 */
/** Per byte: 0 = as is, else the character after the backslash (`x` means `\xNN`). */
const ESCAPE = new Uint8Array(256);
const HEX = Buffer.from('0123456789abcdef', 'latin1');
for (let b = 0; b < 256; b++) {
  if (b === 0x5c)
    ESCAPE[b] = 0x5c; // \\
  else if (b === 0x27)
    ESCAPE[b] = 0x27; // \'
  else if (b === 0x09)
    ESCAPE[b] = 0x74; // \t
  else if (b === 0x0a)
    ESCAPE[b] = 0x6e; // \n
  else if (b === 0x0d)
    ESCAPE[b] = 0x72; // \r
  else if (b < 0x20 || b >= 0x7f) ESCAPE[b] = 0x78; // \xNN
}

export const RECORD_HEADER = 'var VNC_frame_data = [\n';
export const RECORD_FOOTER = "'EOF'];\n";

/**
 * One line of the array as bytes: `'}ms}data',\n` for client data, `'{ms{data',\n` for target
 * data. Built straight into one Buffer (at most 4 output bytes per input byte).
 */
export function recordEntry(direction: '}' | '{', ms: number, data: Uint8Array): Buffer {
  const head = `'${direction}${ms}${direction}`;
  const out = Buffer.allocUnsafe(head.length + data.length * 4 + 3);
  let at = out.write(head, 0, 'latin1');
  for (let i = 0; i < data.length; i++) {
    const b = data[i]!;
    const e = ESCAPE[b]!;
    if (e === 0) {
      out[at++] = b;
      continue;
    }
    out[at++] = 0x5c;
    out[at++] = e;
    if (e === 0x78) {
      out[at++] = HEX[b >> 4]!;
      out[at++] = HEX[b & 15]!;
    }
  }
  out[at++] = 0x27; // '
  out[at++] = 0x2c; // ,
  out[at++] = 0x0a; // \n
  return out.subarray(0, at);
}

/** The escaped text alone (tests and tools). */
export function escapeRecordData(data: Uint8Array): string {
  const entry = recordEntry('}', 0, data);
  return entry.subarray(4, entry.length - 3).toString('latin1');
}
