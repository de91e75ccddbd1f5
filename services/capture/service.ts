/** The capture service's definition: its variables and how it starts (see main.ts). */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { z } from 'zod';
import { ensureStream, jsonData, publishDurable, STREAMS, subjects } from '../../libs/bus/index.js';
import { envInt, envVar } from '../../libs/common/env.js';
import { defineService, SERVICE_ENV } from '../../libs/common/service.js';
import { isDiagonError } from '../../libs/db/errors.js';
import { serveOps } from '../../libs/telemetry/ops.js';
import { DEFAULT_RING_BYTES, LiveCapture } from './live.js';
import { captureMetrics } from './metrics.js';
import { RotatingPcapngWriter } from './rotating-writer.js';

export const CAPTURE_ENV = {
  CAPTURE_NODE: envVar('', "this node's name in subjects (unset: the host name)", z.string()),
  CAPTURE_DEVICE: envVar('lo', 'the interface to capture on', z.string().min(1)),
  CAPTURE_PORTS: envVar(
    '7420',
    "the edge's TCP ports, comma-separated (the BPF filter)",
    z.string().regex(/^\d+(,\d+)*$/, 'comma-separated port numbers'),
  ),
  CAPTURE_RING_BYTES: envVar(
    String(DEFAULT_RING_BYTES),
    'libpcap ring size: one 64 KiB slot per packet in a burst',
    envInt(2 ** 20, 2 ** 31),
  ),
  CAPTURE_HTTP_HOST: envVar('0.0.0.0', '/healthz, /readyz and /metrics listen here', z.string()),
  CAPTURE_HTTP_PORT: envVar('7422', 'on this port (0: any free port)', envInt(0, 65535)),
  CAPTURE_DIR: envVar('', 'rotating pcapng files go here (unset: none written)', z.string()),
  CAPTURE_FILE_BYTES: envVar('104857600', 'a new file after this many bytes', envInt(4096, 1e12)),
  CAPTURE_FILE_AGE_MS: envVar('3600000', 'or after this long', envInt(1000, 1e10)),
  CAPTURE_MAX_FILES: envVar('24', 'files kept (the oldest are deleted)', envInt(1, 100_000)),
  ...SERVICE_ENV,
};

export const captureService = defineService({
  name: 'capture',
  title: "the wire sniffer: decodes the edge's traffic, reports every frame on NATS.",
  env: CAPTURE_ENV,
  async start({ config: c, log, bus }) {
    const node = (c.CAPTURE_NODE || hostname()).replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 128);
    const subject = subjects.captureFrames(node);
    await ensureStream(bus, {
      name: STREAMS.capture,
      subjects: [subjects.captureFrames('*')],
      maxAgeMs: 24 * 3600_000,
    });
    const metrics = captureMetrics({ packets: () => live.packets });
    const run = randomBytes(4).toString('hex');
    let seq = 0;
    const files =
      c.CAPTURE_DIR === ''
        ? undefined
        : new RotatingPcapngWriter({
            directory: c.CAPTURE_DIR,
            maxFileBytes: c.CAPTURE_FILE_BYTES,
            maxFileAgeMs: c.CAPTURE_FILE_AGE_MS,
            maxFiles: c.CAPTURE_MAX_FILES,
          });
    const live = new LiveCapture({
      device: c.CAPTURE_DEVICE,
      bufferBytes: c.CAPTURE_RING_BYTES,
      serverPorts: c.CAPTURE_PORTS.split(',').map(Number),
      ...(files === undefined ? {} : { files }),
      onFrame: (e) => {
        metrics.frames.inc({ type: e.type, status: e.status });
        const body = { node, ...e, timeNs: e.timeNs.toString() };
        void publishDurable(bus, subject, jsonData(body), {
          msgId: `${node}:${run}:${seq++}`,
        }).catch(() => metrics.publishFailures.inc());
      },
      onAnomaly: (a) => metrics.anomalies.inc({ kind: a.kind }),
    });
    let problem: string | null = null;
    try {
      live.start();
      log.info({ device: c.CAPTURE_DEVICE, ports: c.CAPTURE_PORTS, subject }, 'capturing');
    } catch (e) {
      // Stay up and say why on /readyz: the edge works without its sniffer.
      problem = isDiagonError(e) ? e.message : String(e);
      log.error({ err: problem }, 'not capturing');
    }
    const ops = await serveOps({
      host: c.CAPTURE_HTTP_HOST,
      port: c.CAPTURE_HTTP_PORT,
      registry: metrics.registry,
      ready: () => problem,
    });
    log.info({ port: ops.port }, 'capture metrics on /metrics');
    return {
      async stop() {
        live.stop();
        await ops.close();
      },
    };
  },
});
