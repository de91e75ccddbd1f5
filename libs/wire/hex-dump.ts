/**
 * `hexdump -C`-style dumps of bytes, as PROTOCOL.md shows frames and the capture service
 * prints them:
 *
 *     00000000  00 00 00 07 01 15 a1 62  69 64 07                 |.......bid.|
 */
export function formatHexDump(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let offset = 0; offset < bytes.length; offset += 16) {
    const row = bytes.subarray(offset, offset + 16);
    const hex = Array.from(row, (b) => b.toString(16).padStart(2, '0'));
    const left = hex.slice(0, 8).join(' ');
    const right = hex.slice(8).join(' ');
    const ascii = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.'));
    lines.push(
      `${offset.toString(16).padStart(8, '0')}  ${left.padEnd(23)}  ${right.padEnd(23)}  |${ascii.join('')}|`,
    );
  }
  return lines.join('\n');
}
