/**
 * A reader of `text/event-stream` (the WHATWG Server-Sent Events format): fields `event`,
 * `data` (lines joined by "\n"), `id` and `retry`; comment lines (":") are heartbeats. Any
 * chunking and any line ending (CRLF, LF, CR) is read alike.
 */

export interface ServerSentEvent {
  event: string;
  data: string;
  /** The last `id` seen on the stream (sticky, as EventSource's lastEventId). */
  id?: string;
  retry?: number;
}

/** The events of a stream; `onChunk` hears every chunk, heartbeats included (a stall watch). */
export async function* readEvents(
  body: ReadableStream<Uint8Array>,
  onChunk: () => void = () => {},
): AsyncGenerator<ServerSentEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  let event = '';
  let data: string[] = [];
  let id: string | undefined;
  let retry: number | undefined;
  const reader = body.getReader();
  try {
    for (let done = false; !done; ) {
      const chunk = await reader.read();
      done = chunk.done;
      if (done)
        buffer += '\n'; // ends a last line, and makes a last lone CR a CRLF
      else {
        onChunk();
        buffer += decoder.decode(chunk.value, { stream: true });
      }
      for (;;) {
        const end = buffer.search(/\r\n|\r|\n/);
        // A lone CR at the end may be the first half of a CRLF: wait for the next chunk.
        if (end < 0 || (end === buffer.length - 1 && buffer[end] === '\r')) break;
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + (buffer.startsWith('\r\n', end) ? 2 : 1));
        if (line === '') {
          if (data.length > 0)
            yield {
              event: event || 'message',
              data: data.join('\n'),
              ...(id === undefined ? {} : { id }),
              ...(retry === undefined ? {} : { retry }),
            };
          event = '';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + (line[colon + 1] === ' ' ? 2 : 1));
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
        else if (field === 'id' && !value.includes('\0')) id = value;
        else if (field === 'retry' && /^\d+$/.test(value)) retry = Number(value);
      }
    }
  } finally {
    reader.releaseLock();
  }
}
