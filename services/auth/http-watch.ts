/**
 * `GET /v1/pools/{pool}/watch`: Server-Sent Events of a pool.
 *
 *     id: <t>\nevent: tx\ndata: <CommittedEvent JSON>\n\n        each committed transaction
 *     event: proposal\ndata: {pool, event, id, …}\n\n            each proposal event (opened, committed, …)
 *     : heartbeat\n\n                                               every 15 s
 *
 * A client that reconnects with `Last-Event-ID: <t>` (or `?from=<t>`) first gets every
 * transaction after t from the tx log, then the live ones, none twice: live events that
 * arrive during the catch-up are held and sent after it. The NATS subscriptions end when
 * the client goes away; a client that does not read is dropped rather than buffered.
 */
import { type Response, Router } from 'express';
import { z } from 'zod';
import { jsonData, type Subscription } from '../../libs/bus/index.js';
import { readLog } from '../../libs/storage/index.js';
import { committedEvent } from '../transactor/transactor.js';
import type { HttpDeps } from './http.js';
import { check, queryInt } from './http-input.js';
import { poolSession } from './http-session.js';
import { subscriptionSubject } from './relay.js';

const HEARTBEAT_MS = 15_000;
/** What one slow client may make us buffer before it is dropped. */
const MAX_BUFFERED = 4 << 20;
const LOG_PAGE = 1000;

const Resume = z.object({ from: queryInt.optional() });

/** One event stream; what is sent before `open` waits for it. */
class EventStream {
  closed = false;
  private held: string[] | null = [];

  constructor(private readonly res: Response) {}

  /** Sends the headers, then anything held. */
  open(greeting: string): void {
    this.res.status(200).set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    const held = this.held ?? [];
    this.held = null;
    this.write('retry: 2000\n\n');
    this.comment(greeting);
    for (const chunk of held) this.write(chunk);
  }

  send(event: string, data: string, id?: string): void {
    const lines = data.split('\n').map((l) => `data: ${l}\n`);
    this.write(`${id === undefined ? '' : `id: ${id}\n`}event: ${event}\n${lines.join('')}\n`);
  }

  comment(text: string): void {
    this.write(`: ${text}\n\n`);
  }

  private write(chunk: string): void {
    if (this.closed) return;
    if (this.held !== null) {
      this.held.push(chunk);
      return;
    }
    this.res.write(chunk);
    if (this.res.writableLength > MAX_BUFFERED) this.res.destroy();
  }
}

export function watchRoutes(d: HttpDeps): Router {
  const r = Router();
  const text = new TextDecoder();

  r.get('/v1/pools/:pool/watch', async (req, res) => {
    const s = await poolSession(d, req);
    const lastEventId = req.get('last-event-id');
    const { from } = check(
      Resume,
      lastEventId === undefined ? req.query : { from: lastEventId },
      lastEventId === undefined ? 'query' : 'Last-Event-ID',
    );
    const stream = new EventStream(res);
    let lastT = from ?? -1;
    let catchingUp = from !== undefined;
    const held: Uint8Array[] = [];
    const sendTx = (data: Uint8Array) => {
      const json = text.decode(data);
      const t = (JSON.parse(json) as { t?: unknown }).t;
      if (typeof t !== 'number' || t <= lastT) return;
      lastT = t;
      stream.send('tx', json, String(t));
    };
    const subs: Subscription[] = [
      d.bus.subscribe(subscriptionSubject(s.pool, 'tx')!, (m) => {
        if (catchingUp) held.push(m.data);
        else sendTx(m.data);
      }),
      d.bus.subscribe(subscriptionSubject(s.pool, 'proposals')!, (m) => {
        stream.send('proposal', text.decode(m.data));
      }),
    ];
    const heartbeat = setInterval(() => stream.comment('heartbeat'), HEARTBEAT_MS);
    heartbeat.unref();
    d.metrics.watchStreams.inc();
    res.on('close', () => {
      d.metrics.watchStreams.dec();
      stream.closed = true;
      clearInterval(heartbeat);
      for (const sub of subs) void sub.unsubscribe().catch(() => {});
    });
    // The stream opens once the subscriptions are live: nothing after that is missed.
    await d.bus.flush();
    stream.open(`watching ${s.pool}`);
    while (catchingUp && !stream.closed) {
      const page = await readLog(d.sql, s.pool, lastT, Number.MAX_SAFE_INTEGER, LOG_PAGE);
      for (const e of page) sendTx(jsonData(committedEvent(e)));
      if (page.length < LOG_PAGE) catchingUp = false;
    }
    for (const data of held.splice(0)) sendTx(data);
  });

  return r;
}
