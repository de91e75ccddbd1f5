/**
 * Reading a capture file offline (`diagon capture read FILE [--json] [--filter TYPE]`):
 * every wire frame the file holds as an event, a summary of what was counted and what went
 * wrong, and the text (one line per frame, like tshark) and JSON-lines renderings.
 */
import { readFile } from 'node:fs/promises';
import { DiagonError } from '../../libs/db/errors.js';
import { MESSAGE_SCHEMA, type MessageType } from '../../libs/wire/index.js';
import { AUTH_ENV } from '../auth/config.js';
import {
  type Anomaly,
  type CaptureCounters,
  Dissector,
  type DissectorOptions,
  type FrameEvent,
} from './dissector.js';
import { type CaptureFormat, readCapture } from './pcap-file.js';

/** The edge's TCP port unless configured otherwise (AUTH_TCP_PORT). */
export const DEFAULT_SERVER_PORT = Number(AUTH_ENV.AUTH_TCP_PORT.default);
/** Anomalies kept in a summary; `counters.anomalies` counts them all. */
export const MAX_ANOMALIES_KEPT = 10_000;

export type FrameFilter = MessageType | 'unknown';

export interface ReadCaptureOptions {
  /** Only frames of this message type (or `unknown`). The counters still cover all. */
  filter?: string;
  /** The edge's TCP ports (default: DEFAULT_SERVER_PORT). */
  serverPorts?: readonly number[];
  maxFrameSize?: number;
  reassembly?: DissectorOptions['reassembly'];
}

export interface CaptureSummary {
  format: CaptureFormat;
  /** The file ended inside a record. */
  truncated: boolean;
  warnings: readonly string[];
  /** The first packet's time: where relative times count from. */
  startNs: bigint | undefined;
  counters: CaptureCounters;
  /** The first MAX_ANOMALIES_KEPT anomalies. */
  anomalies: Anomaly[];
}

/** The frame types a filter may name. */
export const FRAME_FILTERS: readonly FrameFilter[] = [
  ...(Object.keys(MESSAGE_SCHEMA) as MessageType[]),
  'unknown',
];

/** `filter` checked: a message type name or `unknown`; throws `capture/bad-filter`. */
export function parseFrameFilter(filter: string): FrameFilter {
  const found = FRAME_FILTERS.find((f) => f === filter);
  if (found === undefined)
    throw new DiagonError(
      'capture/bad-filter',
      `"${filter}" is not a message type; use one of: ${FRAME_FILTERS.join(', ')}`,
      { filter },
    );
  return found;
}

/**
 * Dissect the capture in `bytes`, calling `onEvent` for every frame (of the filter's type)
 * as it is found. Throws `capture/bad-file` for a file that is not a capture, and
 * `capture/bad-filter`.
 */
export function dissectCapture(
  bytes: Uint8Array,
  opts: ReadCaptureOptions,
  onEvent: (event: FrameEvent) => void,
): CaptureSummary {
  const filter = opts.filter === undefined ? undefined : parseFrameFilter(opts.filter);
  const reader = readCapture(bytes);
  const anomalies: Anomaly[] = [];
  const dissector = new Dissector(
    {
      serverPorts: opts.serverPorts ?? [DEFAULT_SERVER_PORT],
      maxFrameSize: opts.maxFrameSize,
      reassembly: opts.reassembly,
    },
    {
      frame: (e) => {
        if (filter === undefined || e.type === filter) onEvent(e);
      },
      anomaly: (a) => {
        if (anomalies.length < MAX_ANOMALIES_KEPT) anomalies.push(a);
      },
    },
  );
  let startNs: bigint | undefined;
  for (let p = reader.next(); p !== undefined; p = reader.next()) {
    startNs ??= p.timestampNs;
    dissector.packet(p.timestampNs, p.linkType, p.data);
  }
  dissector.finish();
  return {
    format: reader.format,
    truncated: reader.truncated,
    warnings: reader.warnings,
    startNs,
    counters: dissector.counters,
    anomalies,
  };
}

/** Every frame event of the capture file at `path`, and the summary. */
export async function readCaptureFile(
  path: string,
  opts: ReadCaptureOptions = {},
): Promise<{ events: FrameEvent[]; summary: CaptureSummary }> {
  const bytes = await readFile(path);
  const events: FrameEvent[] = [];
  const summary = dissectCapture(bytes, opts, (e) => events.push(e));
  return { events, summary };
}

/** Seconds since `startNs`, to the microsecond. */
function relativeSeconds(timeNs: bigint, startNs: bigint): string {
  const us = (timeNs - startNs) / 1000n;
  const sign = us < 0n ? '-' : '';
  const abs = us < 0n ? -us : us;
  return `${sign}${abs / 1_000_000n}.${(abs % 1_000_000n).toString().padStart(6, '0')}`;
}

/**
 * One line per frame: time (seconds since `startNs`), flow (sender → receiver), direction,
 * type, request id, size, status (and why, when not ok).
 */
export function formatEventLine(e: FrameEvent, startNs: bigint): string {
  const [from, to] =
    e.direction === 'request' ? [e.flow.client, e.flow.server] : [e.flow.server, e.flow.client];
  const id = e.requestId === undefined ? '-' : `id=${e.requestId}`;
  const status = e.detail === undefined ? e.status : `${e.status} (${e.detail})`;
  return [
    relativeSeconds(e.timeNs, startNs).padStart(12),
    `${from} → ${to}`,
    e.direction.padEnd(8),
    e.type.padEnd(13),
    id.padEnd(13),
    String(e.size).padStart(8),
    status,
  ].join(' ');
}

/** One JSON object (one line): the event, `timeNs` as a decimal string. */
export function formatEventJson(e: FrameEvent): string {
  return JSON.stringify({ ...e, timeNs: e.timeNs.toString() });
}

const counts = (r: Partial<Record<string, number>>) =>
  Object.entries(r)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ') || 'none';

/** The summary as a few lines of text. */
export function formatSummary(s: CaptureSummary): string {
  const c = s.counters;
  const r = c.reassembly;
  const lines = [
    `${s.format}: ${c.packets} packets (${c.bytes} bytes), ${r.flows} flows, ${c.frames} frames`,
    `frames by type: ${counts(c.framesByType)}`,
    `frames by status: ${counts(c.framesByStatus)}`,
    `packets skipped: ${counts(c.skipped)}`,
    `reassembly: ${r.gaps} gaps (${r.gapBytes} bytes), ${r.retransmissions} retransmissions, ` +
      `${r.conflicts} conflicting overlaps, ${r.flowsEvicted} flows evicted, ${r.flowsIdle} idle`,
    `resyncs: ${c.resyncs} (${c.bytesSkipped} bytes skipped); anomalies: ${c.anomalies}`,
  ];
  for (const w of s.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}
