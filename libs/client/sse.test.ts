import { describe, expect, it } from 'vitest';
import { readEvents, type ServerSentEvent } from './sse.js';

/** The events of `chunks` fed one by one. */
async function events(chunks: string[]): Promise<ServerSentEvent[]> {
  const bytes = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      for (const chunk of chunks) c.enqueue(bytes.encode(chunk));
      c.close();
    },
  });
  const out: ServerSentEvent[] = [];
  for await (const e of readEvents(body)) out.push(e);
  return out;
}

describe('readEvents', () => {
  it('reads fields, multi-line data, comments and sticky ids', async () => {
    const text =
      'retry: 2000\n\n: watching\n\nid: 3\nevent: tx\ndata: {"t":3}\n\nevent: proposal\ndata: a\ndata:b\n\n';
    expect(await events([text])).toEqual([
      { event: 'tx', data: '{"t":3}', id: '3', retry: 2000 },
      { event: 'proposal', data: 'a\nb', id: '3', retry: 2000 },
    ]);
  });

  it('reads the same events from any chunking and any line ending', async () => {
    const text = 'id: 1\r\nevent: tx\r\ndata: x\r\n\r\ndata: plain\r\r';
    const whole = await events([text]);
    expect(whole).toEqual([
      { event: 'tx', data: 'x', id: '1' },
      { event: 'message', data: 'plain', id: '1' },
    ]);
    expect(await events(text.split(''))).toEqual(whole);
    expect(await events([text.slice(0, 13), text.slice(13)])).toEqual(whole);
  });

  it('drops an event left unfinished when the stream ends', async () => {
    expect(await events(['data: half'])).toEqual([]);
  });
});
