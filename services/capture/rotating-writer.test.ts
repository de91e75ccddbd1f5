import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DiagonError } from '../../libs/db/errors.js';
import { readCapture } from './pcap-file.js';
import { type PacketRecord, RotatingPcapngWriter } from './rotating-writer.js';

const T0 = 1_700_000_000_123_456_789n;
const MS = 1_000_000n;
const root = mkdtempSync(join(tmpdir(), 'diagon-rotate-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const fresh = () => mkdtempSync(join(root, 'dir-'));
const packet = (i: number, at = T0 + BigInt(i) * MS, linkType = 1): PacketRecord => ({
  timestampNs: at,
  linkType,
  data: new Uint8Array(100).fill(i),
});
const packetsIn = (path: string) => [...readCapture(readFileSync(path))];

describe('RotatingPcapngWriter', () => {
  it('starts a new file past the size bound, and keeps the newest maxFiles', () => {
    const directory = fresh();
    // Section header 28 + interface 32 + four 132-byte packets fit in 600 bytes; five do not.
    const w = new RotatingPcapngWriter({
      directory,
      maxFileBytes: 600,
      maxFileAgeMs: 60_000,
      maxFiles: 3,
    });
    for (let i = 0; i < 20; i++) w.write(packet(i));
    w.close();
    const files = readdirSync(directory).sort();
    expect(files).toHaveLength(3);
    expect(w.files.map((f) => basename(f))).toEqual(files);
    expect(files[0]).toMatch(/^capture-20231114T221320\.131Z-000003\.pcapng$/);
    expect(files.map((f) => packetsIn(join(directory, f)).map((p) => p.data[0]))).toEqual([
      [8, 9, 10, 11],
      [12, 13, 14, 15],
      [16, 17, 18, 19],
    ]);
    for (const f of files) expect(readFileSync(join(directory, f)).length).toBeLessThanOrEqual(600);
  });

  it('starts a new file once one spans maxFileAgeMs of packet time', () => {
    const directory = fresh();
    const w = new RotatingPcapngWriter({
      directory,
      maxFileBytes: 1 << 20,
      maxFileAgeMs: 1000,
      maxFiles: 10,
    });
    for (const ms of [0, 400, 999, 1000, 1500, 2100])
      w.write(packet(ms % 256, T0 + BigInt(ms) * MS));
    w.close();
    expect(w.files.map((f) => packetsIn(f).length)).toEqual([3, 2, 1]);
  });

  it('keeps nanosecond timestamps and each link type as its own interface', () => {
    const directory = fresh();
    const w = new RotatingPcapngWriter({
      directory,
      prefix: 'edge',
      maxFileBytes: 1 << 20,
      maxFileAgeMs: 60_000,
      maxFiles: 2,
    });
    w.write(packet(1, T0, 1));
    w.write(packet(2, T0 + 1n, 113));
    w.write(packet(3, T0 + 2n, 1));
    expect(w.currentFile).toMatch(/edge-\d{8}T\d{6}\.\d{3}Z-000001\.pcapng$/);
    w.flush();
    expect(
      packetsIn(w.currentFile!).map((p) => [p.timestampNs - T0, p.linkType, p.interfaceIndex]),
    ).toEqual([
      [0n, 1, 0],
      [1n, 113, 1],
      [2n, 1, 0],
    ]);
    w.close();
  });

  it('continues the sequence of the files already there, and counts them against maxFiles', () => {
    const directory = fresh();
    const old = [
      'capture-20231114T221320.000Z-000007.pcapng',
      'capture-20231114T221321.000Z-000008.pcapng',
    ];
    for (const name of old) writeFileSync(join(directory, name), '');
    writeFileSync(join(directory, 'notes.txt'), 'not a capture');
    const w = new RotatingPcapngWriter({
      directory,
      maxFileBytes: 1 << 20,
      maxFileAgeMs: 60_000,
      maxFiles: 2,
    });
    w.write(packet(0));
    w.close();
    expect(readdirSync(directory).sort()).toEqual(
      [old[1], 'capture-20231114T221320.123Z-000009.pcapng', 'notes.txt'].sort(),
    );
  });

  it('refuses bad options with capture/bad-option', () => {
    const directory = fresh();
    const bad = (o: object) => () =>
      new RotatingPcapngWriter({ directory, maxFileBytes: 1, maxFileAgeMs: 1, maxFiles: 1, ...o });
    expect(bad({ maxFiles: 0 })).toThrow(DiagonError);
    expect(bad({ maxFileBytes: 1.5 })).toThrow(/maxFileBytes must be a positive integer/);
    expect(bad({ prefix: '../up' })).toThrow(/prefix must be/);
  });
});
