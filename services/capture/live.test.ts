/**
 * Live capture on loopback with libpcap: real TCP connections carrying real wire frames,
 * captured, reassembled and decoded; the count of decoded frames equals the count sent.
 * Needs root (skipped without). The clients write in a tight loop, so the burst also tests
 * that libpcap's ring is big enough (see `LiveCaptureOptions.bufferBytes`).
 */
import { once } from 'node:events';
import { type AddressInfo, createConnection, createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { encodeMessage } from '../../libs/wire/index.js';
import type { FrameEvent } from './dissector.js';
import { canCapture, LiveCapture } from './live.js';

const permitted = canCapture();

describe.skipIf(!permitted)('live capture on lo (root)', () => {
  it('decodes every frame many clients send and receive, split across segments', async () => {
    const pong = encodeMessage({ type: 'pong', id: 1 });
    const server = createServer((s) => {
      // Answer each ping frame with a pong, written in two pieces.
      let pending = Buffer.alloc(0);
      s.on('data', (d) => {
        pending = Buffer.concat([pending, d]);
        while (pending.length >= 4 && pending.length >= 4 + pending.readUInt32BE(0)) {
          pending = pending.subarray(4 + pending.readUInt32BE(0));
          s.write(pong.subarray(0, 3));
          s.write(pong.subarray(3));
        }
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    const events: FrameEvent[] = [];
    const live = new LiveCapture({
      device: 'lo',
      serverPorts: [port],
      onFrame: (e) => events.push(e),
      onAnomaly: () => {},
    });
    live.start();
    const CLIENTS = 8;
    const PINGS = 20;
    const clients: Socket[] = [];
    for (let c = 0; c < CLIENTS; c++) {
      const s = createConnection(port, '127.0.0.1');
      await once(s, 'connect');
      clients.push(s);
    }
    let pongs = 0;
    const allPongs = new Promise<void>((resolve) => {
      for (const s of clients)
        s.on('data', (d) => {
          pongs += d.length;
          if (pongs >= CLIENTS * PINGS * pong.length) resolve();
        });
    });
    for (let i = 0; i < PINGS; i++)
      for (const s of clients) s.write(encodeMessage({ type: 'ping', id: i + 1 }));
    await allPongs;
    for (const s of clients) s.end();
    await new Promise((r) => setTimeout(r, 1500));
    live.stop();
    server.close();
    const pings = events.filter((e) => e.type === 'ping' && e.direction === 'request');
    const answered = events.filter((e) => e.type === 'pong' && e.direction === 'response');
    expect(pings).toHaveLength(CLIENTS * PINGS);
    expect(answered).toHaveLength(CLIENTS * PINGS);
    expect(new Set(pings.map((e) => e.flow.client)).size).toBe(CLIENTS);
    expect(live.dissector.counters.reassembly.gaps).toBe(0);
  });
});
