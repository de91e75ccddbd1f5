/**
 * Rotating pcapng files in one directory: a new file once the current one would pass
 * `maxFileBytes` or has spanned `maxFileAgeMs` of packet time; at most `maxFiles` kept, the
 * oldest deleted. Names are `<prefix>-<UTC time of the first packet>-<sequence>.pcapng`; the
 * sequence continues after the files already there, so a restart neither overwrites a file
 * nor forgets to delete old ones. Writes are synchronous (a capture loop has nothing else to
 * wait for) and buffered up to `bufferBytes`; `flush()` forces them out.
 */
import { closeSync, mkdirSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { DiagonError } from '../../libs/db/errors.js';
import { PcapngWriter } from './pcap-file.js';

export interface RotatingWriterOptions {
  directory: string;
  /** File name prefix: letters, digits, `-` and `_` (default `capture`). */
  prefix?: string;
  maxFileBytes: number;
  maxFileAgeMs: number;
  maxFiles: number;
  /** Bytes gathered before a write to disk (default 64 KiB). */
  bufferBytes?: number;
}

export interface PacketRecord {
  timestampNs: bigint;
  linkType: number;
  data: Uint8Array;
  originalLength?: number;
}

/** Nanosecond timestamps: a capture's packets keep the precision they were taken with. */
const TSRESOL_NS = 9;
/** An Enhanced Packet Block: 28 bytes of header and 4 of trailer around the padded data. */
const EPB_OVERHEAD = 32;
const PREFIX_SYNTAX = /^[A-Za-z0-9_-]+$/;

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1)
    throw new DiagonError(
      'capture/bad-option',
      `${name} must be a positive integer, not ${value}`,
      {
        [name]: value,
      },
    );
  return value;
}

interface OpenFile {
  path: string;
  fd: number;
  bytes: number;
  packets: number;
  startNs: bigint;
  /** The interface index of each link type written to this file. */
  interfaces: Map<number, number>;
}

export class RotatingPcapngWriter {
  private readonly directory: string;
  private readonly prefix: string;
  private readonly maxFileBytes: number;
  private readonly maxFileAgeNs: bigint;
  private readonly maxFiles: number;
  private readonly bufferBytes: number;
  private readonly pcapng = new PcapngWriter();
  /** Files this writer may delete, oldest first (the current one last). */
  private readonly kept: string[];
  private nextSequence: number;
  private current: OpenFile | undefined;
  private buffered: Uint8Array[] = [];
  private bufferedBytes = 0;

  constructor(opts: RotatingWriterOptions) {
    this.prefix = opts.prefix ?? 'capture';
    if (!PREFIX_SYNTAX.test(this.prefix))
      throw new DiagonError(
        'capture/bad-option',
        `prefix must be letters, digits, - and _, not "${this.prefix}"`,
      );
    this.maxFileBytes = positiveInteger('maxFileBytes', opts.maxFileBytes);
    this.maxFileAgeNs = BigInt(positiveInteger('maxFileAgeMs', opts.maxFileAgeMs)) * 1_000_000n;
    this.maxFiles = positiveInteger('maxFiles', opts.maxFiles);
    this.bufferBytes = opts.bufferBytes ?? 64 * 1024;
    this.directory = opts.directory;
    mkdirSync(this.directory, { recursive: true });
    const existing = this.existingFiles();
    this.kept = existing.map((f) => join(this.directory, f.name));
    this.nextSequence = (existing.at(-1)?.sequence ?? 0) + 1;
  }

  /** The files kept, oldest first, the one being written last. */
  get files(): readonly string[] {
    return this.kept;
  }

  get currentFile(): string | undefined {
    return this.current?.path;
  }

  write(p: PacketRecord): void {
    const blockBytes = EPB_OVERHEAD + ((p.data.length + 3) & ~3);
    let file = this.current;
    if (
      file === undefined ||
      (file.packets > 0 && file.bytes + blockBytes > this.maxFileBytes) ||
      p.timestampNs - file.startNs >= this.maxFileAgeNs
    )
      file = this.rotate(p.timestampNs);
    let index = file.interfaces.get(p.linkType);
    if (index === undefined) {
      index = file.interfaces.size;
      file.interfaces.set(p.linkType, index);
      this.append(this.pcapng.interfaceDescription({ linkType: p.linkType, tsresol: TSRESOL_NS }));
    }
    this.append(this.pcapng.packet(index, p));
    file.packets++;
  }

  /** Write out what is buffered. */
  flush(): void {
    const file = this.current;
    if (file === undefined) return;
    for (const chunk of this.buffered) writeSync(file.fd, chunk);
    this.buffered = [];
    this.bufferedBytes = 0;
  }

  close(): void {
    this.flush();
    if (this.current !== undefined) closeSync(this.current.fd);
    this.current = undefined;
  }

  private append(bytes: Uint8Array): void {
    this.buffered.push(bytes);
    this.bufferedBytes += bytes.length;
    this.current!.bytes += bytes.length;
    if (this.bufferedBytes >= this.bufferBytes) this.flush();
  }

  private rotate(startNs: bigint): OpenFile {
    this.close();
    const stamp = new Date(Number(startNs / 1_000_000n)).toISOString().replace(/[-:]/g, '');
    const name = `${this.prefix}-${stamp}-${String(this.nextSequence++).padStart(6, '0')}.pcapng`;
    const path = join(this.directory, name);
    this.current = {
      path,
      fd: openSync(path, 'wx'),
      bytes: 0,
      packets: 0,
      startNs,
      interfaces: new Map(),
    };
    this.append(this.pcapng.sectionHeader());
    this.kept.push(path);
    while (this.kept.length > this.maxFiles) rmSync(this.kept.shift()!, { force: true });
    return this.current;
  }

  /** This prefix's files in the directory, by sequence. */
  private existingFiles(): { name: string; sequence: number }[] {
    const pattern = new RegExp(`^${this.prefix}-\\d{8}T\\d{6}\\.\\d{3}Z-(\\d+)\\.pcapng$`);
    return readdirSync(this.directory)
      .flatMap((name) => {
        const m = pattern.exec(name);
        return m === null ? [] : [{ name, sequence: Number(m[1]) }];
      })
      .sort((a, b) => a.sequence - b.sequence);
  }
}
