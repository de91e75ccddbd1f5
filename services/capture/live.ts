/**
 * Live capture: libpcap (through `cap`) on an interface with a BPF filter on the edge's
 * ports, each packet copied out of cap's one shared buffer and stamped on arrival (cap
 * gives no timestamp), then dissected, written to rotating pcapng files and reported.
 * Without permission to capture (neither root nor NET_RAW) `start` fails with a
 * `capture/not-permitted` error that says how to grant it.
 */
import { createRequire } from 'node:module';
import { DiagonError } from '../../libs/db/errors.js';
import { type Anomaly, Dissector, type FrameEvent } from './dissector.js';
import type { RotatingPcapngWriter } from './rotating-writer.js';

/** pcap link type numbers of the names `cap` reports. */
const LINK_TYPES: Record<string, number> = {
  NULL: 0,
  ETHERNET: 1,
  RAW: 101,
  LINKTYPE_LINUX_SLL: 113,
};

export interface LiveCaptureOptions {
  device: string;
  serverPorts: readonly number[];
  /**
   * libpcap's ring (default 64 MiB). `cap` fixes the snap length at 65535 and asks for
   * immediate mode, in which Linux's ring has one 64 KiB slot per packet: 64 MiB holds a
   * burst of about a thousand packets; 16 MiB lost a third of a 600-packet burst on lo.
   */
  bufferBytes?: number;
  snapLength?: number;
  files?: RotatingPcapngWriter;
  onFrame(event: FrameEvent): void;
  onAnomaly(anomaly: Anomaly): void;
}

export const DEFAULT_RING_BYTES = 64 << 20;

/**
 * Every handle this process opened, never released: cap's native handle can crash the
 * process when the collector frees it after a failed open or a close (seen in tests).
 * One per capture started: a few hundred bytes each.
 */
const handles: unknown[] = [];

/** The BPF filter of the edge's TCP ports. */
export function bpfFilter(ports: readonly number[]): string {
  return ports.map((p) => `tcp port ${p}`).join(' or ');
}

/** Wall-clock nanoseconds, from a monotonic clock anchored once (stamps never go back). */
const anchorNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
export const nowNs = () => anchorNs + process.hrtime.bigint();

/** Whether this process may capture: root (or NET_RAW, which a sidecar is given) and cap built. */
export function canCapture(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    createRequire(import.meta.url)('cap');
    return true;
  } catch {
    return false;
  }
}

export class LiveCapture {
  private cap: { close(): void } | null = null;
  readonly dissector: Dissector;
  linkType = -1;
  packets = 0;
  truncated = 0;

  constructor(private readonly o: LiveCaptureOptions) {
    this.dissector = new Dissector(
      { serverPorts: o.serverPorts },
      { frame: (e) => o.onFrame(e), anomaly: (a) => o.onAnomaly(a) },
    );
  }

  start(): void {
    const require = createRequire(import.meta.url);
    let Cap: typeof import('cap').Cap;
    try {
      Cap = (require('cap') as typeof import('cap').default).Cap;
    } catch (e) {
      throw new DiagonError(
        'capture/no-libpcap',
        `the libpcap binding (npm cap) did not load: ${(e as Error).message}; install libpcap-dev and run npm ci`,
      );
    }
    const devices = (Cap as unknown as { deviceList(): { name: string }[] }).deviceList();
    if (!devices.some((d) => d.name === this.o.device))
      throw new DiagonError(
        'capture/no-device',
        `there is no interface ${this.o.device} to capture on; this machine has: ${devices.map((d) => d.name).join(', ')}`,
      );
    const c = new Cap();
    handles.push(c);
    const buffer = Buffer.alloc(this.o.snapLength ?? 65_535);
    let name: string;
    try {
      name = c.open(
        this.o.device,
        bpfFilter(this.o.serverPorts),
        this.o.bufferBytes ?? DEFAULT_RING_BYTES,
        buffer,
      );
    } catch (e) {
      const why = (e as Error).message;
      if (/permi|not permitted|EPERM|socket/i.test(why))
        throw new DiagonError(
          'capture/not-permitted',
          `cannot capture on ${this.o.device}: ${why}. Run as root or grant the capability: setcap cap_net_raw,cap_net_admin=eip "$(command -v node)", or in Kubernetes add NET_RAW to the container's securityContext.capabilities`,
        );
      throw new DiagonError('capture/open-failed', `cannot capture on ${this.o.device}: ${why}`);
    }
    const linkType = LINK_TYPES[name];
    if (linkType === undefined) {
      c.close();
      throw new DiagonError(
        'capture/link-type',
        `${this.o.device} has a link type the capture does not decode: ${name}`,
      );
    }
    this.linkType = linkType;
    c.on('packet', (nbytes, truncated) => {
      // cap reuses `buffer` for the next packet: copy now, before anything async.
      const data = Uint8Array.prototype.slice.call(buffer, 0, nbytes);
      const timestampNs = nowNs();
      this.packets++;
      if (truncated) this.truncated++;
      this.o.files?.write({ timestampNs, linkType, data });
      this.dissector.packet(timestampNs, linkType, data);
    });
    this.cap = c;
  }

  stop(): void {
    this.cap?.close();
    this.cap = null;
    this.dissector.finish();
    this.o.files?.close();
  }
}
