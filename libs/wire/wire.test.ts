import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { thrown } from '../../test/support/errors.js';
import { type CanonicalValue, decodeCanonical, encodeCanonical } from '../identity/cbor.js';
import { didMatchesKey } from '../identity/did.js';
import { verify } from '../identity/ed25519.js';
import { KeyPair } from '../identity/key-pair.js';
import { signingBytes } from '../identity/signing-bytes.js';
import {
  DEFAULT_MAX_FRAME_SIZE,
  type Decoded,
  encodeFrame,
  type Frame,
  FrameDecoder,
  WIRE_VERSION,
  type WireError,
} from './frame.js';
import { HANDSHAKE_KIND, handshakeSigningBytes, NONCE_BYTES } from './handshake.js';
import { formatHexDump } from './hex-dump.js';
import { MessageDecoder } from './message-decoder.js';
import {
  decodeMessage,
  encodeMessage,
  MESSAGE_SCHEMA,
  type Message,
  type MessageType,
  messageTypeName,
  REJECT_CODES,
} from './messages.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s/g, ''), 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const concat = (parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

/** `bytes` cut at `cuts` (taken modulo its length), in order. */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    pieces.push(bytes.subarray(from, p));
    from = p;
  }
  return pieces;
}

/** The frame `bytes` hold (exactly one). */
function frameOf(bytes: Uint8Array): Frame {
  const out = new FrameDecoder().push(bytes);
  expect(out).toHaveLength(1);
  if (!out[0]!.ok) throw new Error(out[0]!.error.message);
  return out[0]!.value;
}

const decodeBytes = (bytes: Uint8Array) => decodeMessage(frameOf(bytes));

/** The error `d` holds, checked against `code` and `message`. */
function expectWireError<T>(d: Decoded<T> | undefined, code: string, message?: RegExp): WireError {
  if (d === undefined || d.ok)
    throw new Error(`expected a ${code} error, got ${JSON.stringify(d)}`);
  expect(d.error.code).toBe(code);
  if (message) expect(d.error.message).toMatch(message);
  return d.error;
}

// ---- frames --------------------------------------------------------------------------------

describe('frames', () => {
  it('are length (u32 BE, counting version and type) ‖ version ‖ type ‖ body', () => {
    expect(toHex(encodeFrame(0x15, hex('a0')))).toBe('00000003 0115 a0'.replace(/\s/g, ''));
    expect(toHex(encodeFrame(0x20, new Uint8Array(300)).subarray(0, 6))).toBe('0000012e0120');
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }),
        fc.uint8Array({ maxLength: 600 }),
        (t, body) => {
          const bytes = encodeFrame(t, body);
          const view = new DataView(bytes.buffer, bytes.byteOffset);
          expect(view.getUint32(0, false)).toBe(body.length + 2);
          expect(bytes[4]).toBe(WIRE_VERSION);
          expect(bytes[5]).toBe(t);
          expect(toHex(bytes.subarray(6))).toBe(toHex(body));
          expect(frameOf(bytes)).toEqual({ version: WIRE_VERSION, type: t, body });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('have a 1 MiB maximum by default', () => {
    expect(DEFAULT_MAX_FRAME_SIZE).toBe(1024 * 1024);
    expect(new FrameDecoder().maxFrameSize).toBe(1024 * 1024);
    const body = new Uint8Array(DEFAULT_MAX_FRAME_SIZE - 2);
    expect(frameOf(encodeFrame(1, body)).body).toHaveLength(body.length);
    const e = thrown(() => encodeFrame(1, new Uint8Array(DEFAULT_MAX_FRAME_SIZE - 1)));
    expect(e.code).toBe('wire/frame-too-large');
    expect(e.data).toEqual({ length: DEFAULT_MAX_FRAME_SIZE + 1, max: DEFAULT_MAX_FRAME_SIZE });
  });

  it('are refused from the header alone when too large, before any allocation', () => {
    const decoder = new FrameDecoder();
    const header = hex('ffffffff');
    for (const b of header.subarray(0, 3)) {
      expect(decoder.push(Uint8Array.of(b))).toEqual([]);
      expect(decoder.bufferedBytes).toBeLessThanOrEqual(4);
    }
    const [result] = decoder.push(concat([header.subarray(3), new Uint8Array(1000)]));
    const error = expectWireError(result, 'frame-too-large', /4294967295 exceeds the maximum/);
    expect(error.length).toBe(0xffffffff);
    expect(decoder.bufferedBytes).toBe(0);
    expect(decoder.failed?.code).toBe('frame-too-large');
  });

  it('hold at most 4 + maxFrameSize bytes, whatever arrives', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 64 }),
        fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 20 }),
        (max, chunks) => {
          const decoder = new MessageDecoder({ maxFrameSize: max });
          for (const chunk of chunks) {
            decoder.push(chunk);
            expect(decoder.bufferedBytes).toBeLessThanOrEqual(4 + max);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('honour a configured maximum, on both sides', () => {
    const decoder = new FrameDecoder({ maxFrameSize: 16 });
    const atMax = encodeFrame(7, new Uint8Array(14), { maxFrameSize: 16 });
    expect(decoder.push(atMax)).toEqual([
      { ok: true, value: { version: 1, type: 7, body: new Uint8Array(14) } },
    ]);
    expect(thrown(() => encodeFrame(7, new Uint8Array(15), { maxFrameSize: 16 })).code).toBe(
      'wire/frame-too-large',
    );
    const [result] = decoder.push(encodeFrame(7, new Uint8Array(15)));
    expectWireError(result, 'frame-too-large', /17 exceeds the maximum of 16/);
  });

  it.each([1, 1.5, -1, Number.NaN, 2 ** 32])('refuse maxFrameSize %s', (max) => {
    expect(thrown(() => new FrameDecoder({ maxFrameSize: max })).code).toBe('wire/bad-option');
    expect(thrown(() => encodeFrame(1, new Uint8Array(0), { maxFrameSize: max })).code).toBe(
      'wire/bad-option',
    );
  });

  it('accept maxFrameSize 2 and 2^32-1', () => {
    expect(new FrameDecoder({ maxFrameSize: 2 }).maxFrameSize).toBe(2);
    expect(new FrameDecoder({ maxFrameSize: 2 ** 32 - 1 }).bufferedBytes).toBe(0);
  });

  it.each([0, 1])('refuse a length of %i as too small', (length) => {
    const decoder = new FrameDecoder();
    const [result] = decoder.push(hex(`000000${length.toString(16).padStart(2, '0')}0101`));
    expect(expectWireError(result, 'frame-too-small', /below 2/).length).toBe(length);
  });

  it('refuse another protocol version and stop until reset', () => {
    const decoder = new FrameDecoder();
    const other = hex('00000003 02 15 a0');
    const [result] = decoder.push(concat([other, encodeFrame(0x15, hex('a0'))]));
    const error = expectWireError(result, 'unsupported-version', /version 2 is not supported/);
    expect(error.version).toBe(2);
    expect(decoder.push(encodeFrame(0x15, hex('a0')))).toEqual([]);
    decoder.reset();
    expect(decoder.failed).toBeUndefined();
    expect(decoder.push(encodeFrame(0x15, hex('a0')))).toEqual([
      { ok: true, value: { version: 1, type: 0x15, body: hex('a0') } },
    ]);
  });

  it.each([-1, 256, 1.5])('refuse the type %s when encoding', (type) => {
    expect(thrown(() => encodeFrame(type, new Uint8Array(0))).code).toBe('wire/bad-type');
  });

  it('copy their payload, so the caller may reuse its buffer', () => {
    const chunk = encodeFrame(9, hex('010203'));
    const [result] = new FrameDecoder().push(chunk);
    chunk.fill(0);
    expect(result).toEqual({ ok: true, value: { version: 1, type: 9, body: hex('010203') } });
  });
});

// ---- messages ------------------------------------------------------------------------------

const text = fc.string({ unit: 'binary', maxLength: 40 });
const did = fc
  .tuple(fc.stringMatching(/^[a-z0-9]{1,8}$/), fc.stringMatching(/^[A-Za-z0-9._%:-]{1,60}$/))
  .map(([method, id]) => `did:${method}:${id}`);
const pool = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/);
const code = fc.oneof(
  fc.constantFrom(...REJECT_CODES),
  fc.stringMatching(/^[a-z][a-z0-9._/-]{0,127}$/),
);
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const requestId = fc.integer({ min: 0, max: 0xffffffff });
const hexDigits = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
const traceparent = fc
  .tuple(hexDigits(32), hexDigits(16), hexDigits(2))
  .filter(([trace, parent]) => /[^0]/.test(trace) && /[^0]/.test(parent))
  .map(([trace, parent, flags]) => `00-${trace}-${parent}-${flags}`);
const tracestate = fc.stringMatching(/^[\x20-\x7e]{0,64}$/);
const TRACE = ['traceparent', 'tracestate'] as const;

/** One arbitrary per message type: the Record makes sure none is left out. */
const MESSAGES: Record<MessageType, fc.Arbitrary<Message>> = {
  connect: fc.record({ type: fc.constant('connect'), did, publicKey: bytes(32), pool }),
  challenge: fc.record({ type: fc.constant('challenge'), nonce: bytes(32), serverDid: did }),
  response: fc.record({ type: fc.constant('response'), signature: bytes(64) }),
  elaborate: fc.record({ type: fc.constant('elaborate'), text }),
  authenticated: fc.record({ type: fc.constant('authenticated'), session: text }),
  rejected: fc.record({ type: fc.constant('rejected'), code, reason: text }),
  propose: fc.record(
    { type: fc.constant('propose'), id: requestId, txData: text, traceparent, tracestate },
    { requiredKeys: ['type', 'id', 'txData'] },
  ),
  vote: fc.record(
    {
      type: fc.constant('vote'),
      id: requestId,
      proposal: text,
      vote: text,
      signature: bytes(64),
      traceparent,
      tracestate,
    },
    { requiredKeys: ['type', 'id', 'proposal', 'vote', 'signature'] },
  ),
  query: fc.record(
    {
      type: fc.constant('query'),
      id: requestId,
      query: text,
      args: text,
      asOf: fc.maxSafeNat(),
      traceparent,
      tracestate,
    },
    { requiredKeys: ['type', 'id', 'query'] },
  ),
  pull: fc.record(
    {
      type: fc.constant('pull'),
      id: requestId,
      pattern: text,
      eid: text,
      asOf: fc.maxSafeNat(),
      traceparent,
      tracestate,
    },
    { requiredKeys: ['type', 'id', 'pattern', 'eid'] },
  ),
  subscribe: fc.record(
    { type: fc.constant('subscribe'), id: requestId, topic: text, traceparent, tracestate },
    { requiredKeys: ['type', 'id', 'topic'] },
  ),
  ping: fc.record(
    { type: fc.constant('ping'), id: requestId, traceparent, tracestate },
    { requiredKeys: ['type', 'id'] },
  ),
  reply: fc.record({ type: fc.constant('reply'), id: requestId, value: text }),
  event: fc.record({
    type: fc.constant('event'),
    id: requestId,
    seq: fc.maxSafeNat(),
    value: text,
  }),
  pong: fc.record({ type: fc.constant('pong'), id: requestId }),
  error: fc.record(
    { type: fc.constant('error'), id: requestId, code, message: text },
    { requiredKeys: ['type', 'code', 'message'] },
  ),
  shutdown: fc.record({ type: fc.constant('shutdown'), reason: text }),
};
const anyMessage = fc.oneof(...Object.values(MESSAGES));

describe('messages', () => {
  it.each(Object.keys(MESSAGES) as MessageType[])('%s round-trips', (type) => {
    fc.assert(
      fc.property(MESSAGES[type], (message) => {
        const bytes = encodeMessage(message);
        expect(bytes[5]).toBe(MESSAGE_SCHEMA[type].code);
        expect(decodeBytes(bytes)).toEqual({ ok: true, value: message });
      }),
      { numRuns: 60 },
    );
  });

  it('have distinct type bytes, named by messageTypeName', () => {
    const codes = Object.values(MESSAGE_SCHEMA).map((s) => s.code);
    expect(new Set(codes).size).toBe(codes.length);
    for (const [name, s] of Object.entries(MESSAGE_SCHEMA))
      expect(messageTypeName(s.code)).toBe(name);
    expect(messageTypeName(0x00)).toBeUndefined();
    expect(messageTypeName(0xff)).toBeUndefined();
  });

  it('carry trace context on every request', () => {
    for (const type of ['propose', 'vote', 'query', 'pull', 'subscribe', 'ping'] as const)
      expect(MESSAGE_SCHEMA[type].fields.map((f) => f.key)).toEqual(
        expect.arrayContaining([...TRACE]),
      );
  });

  it('decode the same whatever the chunking of the stream', () => {
    fc.assert(
      fc.property(
        fc.array(anyMessage, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (messages, cuts) => {
          const stream = concat(messages.map((m) => encodeMessage(m)));
          const decoder = new MessageDecoder();
          const out = split(stream, cuts).flatMap((piece) => decoder.push(piece));
          expect(out).toEqual(messages.map((value) => ({ ok: true, value })));
          expect(decoder.bufferedBytes).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('decode byte by byte', () => {
    const messages: Message[] = [
      { type: 'ping', id: 1 },
      { type: 'pong', id: 1 },
      { type: 'shutdown', reason: 'bye' },
    ];
    const stream = concat(messages.map((m) => encodeMessage(m)));
    const decoder = new MessageDecoder();
    const out = [...stream].flatMap((b) => decoder.push(Uint8Array.of(b)));
    expect(out.map((d) => d.ok && d.value)).toEqual(messages);
  });
});

describe('decoding hostile input', () => {
  const WIRE_CODES = ['frame-too-large', 'frame-too-small', 'unsupported-version'];
  const MESSAGE_CODES = ['unknown-type', 'malformed'];

  it('never throws on arbitrary frames, and names the type byte in errors', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }),
        fc.uint8Array({ maxLength: 80 }),
        (type, body) => {
          const d = decodeMessage({ version: 1, type, body });
          if (d.ok) return;
          expect(MESSAGE_CODES).toContain(d.error.code);
          expect(d.error.type).toBe(type);
          if (messageTypeName(type) === undefined) expect(d.error.code).toBe('unknown-type');
        },
      ),
      { numRuns: 500 },
    );
  });

  const fieldNames = [
    ...new Set(Object.values(MESSAGE_SCHEMA).flatMap((s) => s.fields.map((f) => f.key))),
    'type',
    'extra',
  ];
  const fieldValue: fc.Arbitrary<CanonicalValue> = fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -5, max: 0xffffffff + 5 }),
    fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    text,
    did,
    pool,
    code,
    traceparent,
    fc.constantFrom(0, 31, 32, 33, 63, 64, 65).chain((n) => bytes(n)),
    fc.array(fc.integer(), { maxLength: 2 }),
    fc.dictionary(text, fc.dictionary(text, fc.integer(), { maxKeys: 1 }), { maxKeys: 1 }),
  );

  it('never throws on well-formed maps of ill-typed fields; what it accepts re-encodes', () => {
    const body = fc.dictionary(fc.constantFrom(...fieldNames), fieldValue, { maxKeys: 8 });
    const types = Object.values(MESSAGE_SCHEMA).map((s) => s.code);
    fc.assert(
      fc.property(fc.constantFrom(...types), body, (type, fields) => {
        const d = decodeMessage({ version: 1, type, body: encodeCanonical(fields) });
        if (!d.ok) {
          expect(d.error.code).toBe('malformed');
          return;
        }
        expect(decodeBytes(encodeMessage(d.value))).toEqual(d);
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on arbitrary streams, whatever the chunking', () => {
    const stream = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc
        .array(
          fc.oneof(
            anyMessage.map((m) => encodeMessage(m)),
            fc.uint8Array({ maxLength: 12 }),
          ),
          {
            maxLength: 5,
          },
        )
        .map(concat),
    );
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
        const decoder = new MessageDecoder({ maxFrameSize: 256 });
        for (const piece of split(bytes, cuts))
          for (const d of decoder.push(piece)) {
            if (!d.ok) expect([...WIRE_CODES, ...MESSAGE_CODES]).toContain(d.error.code);
            expect(decoder.bufferedBytes).toBeLessThanOrEqual(4 + 256);
          }
      }),
      { numRuns: 300 },
    );
  });

  it('reports an unknown type byte', () => {
    expectWireError(decodeBytes(encodeFrame(0x7f, hex('a0'))), 'unknown-type', /type 0x7f/);
  });

  it('goes on after a message error, since the framing is intact', () => {
    const decoder = new MessageDecoder();
    const out = decoder.push(
      concat([encodeFrame(0x7f, hex('a0')), encodeMessage({ type: 'pong', id: 3 })]),
    );
    expect(out.map((d) => d.ok)).toEqual([false, true]);
    expect(decoder.failed).toBeUndefined();
  });

  const ping = MESSAGE_SCHEMA.ping.code;
  it.each<[string, number, string, RegExp]>([
    ['an empty body', ping, '', /past the end/],
    ['a body that is an array', ping, '8107', /not a map/],
    ['a body that is a CID', ping, `d82a5825000155 1220${'00'.repeat(32)}`, /not a map/],
    ['a non-shortest integer', ping, 'a1 626964 1807', /shortest/],
    ['unsorted keys', MESSAGE_SCHEMA.pong.code, 'a2 627878 01 626964 01', /out of order/],
    ['trailing bytes', ping, 'a1 626964 07 00', /trailing/],
    ['a float', ping, 'a1 626964 f93c00', /floats/],
    ['a missing field', ping, 'a0', /"id" is missing/],
    ['a negative request id', ping, 'a1 626964 20', /"id" must be an unsigned 32-bit integer/],
    ['a request id of 2^32', ping, 'a1 626964 1b0000000100000000', /unsigned 32-bit/],
    ['a text request id', ping, 'a1 626964 6131', /unsigned 32-bit/],
    ['nesting too deep', ping, 'a2 6178 a16179a0 626964 07', /nesting/],
  ])('reports %s as malformed', (_, type, body, message) => {
    expectWireError(decodeMessage({ version: 1, type, body: hex(body) }), 'malformed', message);
  });

  it.each<[string, Record<string, CanonicalValue>, RegExp]>([
    [
      'a 31-byte nonce',
      { type: 'challenge', nonce: new Uint8Array(31), serverDid: 'did:key:z6' },
      /"nonce" must be 32 bytes/,
    ],
    [
      'a DID without method',
      { type: 'challenge', nonce: new Uint8Array(32), serverDid: 'did:z6' },
      /"serverDid" must be a DID/,
    ],
    [
      'a pool with capitals',
      { type: 'connect', did: 'did:key:z6', publicKey: new Uint8Array(32), pool: 'Demo' },
      /"pool" must be a pool name/,
    ],
    [
      'a 63-byte signature',
      { type: 'response', signature: new Uint8Array(63) },
      /"signature" must be 64 bytes/,
    ],
    [
      'a code with capitals',
      { type: 'rejected', code: 'Nope', reason: '' },
      /"code" must be a code/,
    ],
    [
      'an asOf past 2^53',
      { type: 'query', id: 1, query: '', asOf: 2n ** 53n },
      /"asOf" must be an unsigned integer below 2\^53/,
    ],
    [
      'a zero trace id',
      { type: 'ping', id: 1, traceparent: `00-${'0'.repeat(32)}-${'1'.repeat(16)}-01` },
      /traceparent/,
    ],
    ['a tracestate with a newline', { type: 'ping', id: 1, tracestate: 'a=b\n' }, /tracestate/],
  ])('refuses %s, on both sides', (_, message, why) => {
    const { type, ...fields } = message;
    const frame = {
      version: 1,
      type: MESSAGE_SCHEMA[type as MessageType].code,
      body: encodeCanonical(fields),
    };
    expectWireError(decodeMessage(frame), 'malformed', why);
    const e = thrown(() => encodeMessage(message as unknown as Message));
    expect(e.code).toBe('wire/invalid-message');
    expect(e.message).toMatch(why);
  });

  it('ignores keys it does not know', () => {
    const body = encodeCanonical({ id: 7, later: 'a field of a later minor version' });
    expect(decodeMessage({ version: 1, type: ping, body })).toEqual({
      ok: true,
      value: { type: 'ping', id: 7 },
    });
  });
});

describe('encoding', () => {
  it('refuses an unknown message type', () => {
    const e = thrown(() => encodeMessage({ type: 'hello' } as unknown as Message));
    expect(e.code).toBe('wire/invalid-message');
  });

  it('refuses text with no UTF-8 form as an invalid message', () => {
    const e = thrown(() => encodeMessage({ type: 'elaborate', text: 'half a pair: \ud83d' }));
    expect(e.code).toBe('wire/invalid-message');
    expect(e.message).toMatch(/lone surrogate/);
  });

  it('refuses a message larger than the maximum frame', () => {
    const e = thrown(() =>
      encodeMessage({ type: 'elaborate', text: 'x'.repeat(100) }, { maxFrameSize: 64 }),
    );
    expect(e.code).toBe('wire/frame-too-large');
  });

  it('leaves out optional fields that are undefined', () => {
    const bytes = encodeMessage({ type: 'error', id: undefined, code: 'x', message: 'y' });
    expect(decodeCanonical(frameOf(bytes).body)).toEqual({ code: 'x', message: 'y' });
  });
});

// ---- handshake -----------------------------------------------------------------------------

describe('handshakeSigningBytes', () => {
  const client = KeyPair.fromSecretKey(new Uint8Array(32).fill(1));
  const server = KeyPair.fromSecretKey(new Uint8Array(32).fill(2));
  const transcript = {
    pool: 'demo',
    nonce: new Uint8Array(NONCE_BYTES).fill(9),
    clientDid: client.did,
    serverDid: server.did,
  };

  it('are the handshake-kind signing bytes of {client, nonce, server} in the pool', () => {
    const bytes = handshakeSigningBytes(transcript);
    const prefix = Buffer.from('diagon/v1/handshake/demo\0');
    expect(HANDSHAKE_KIND).toBe('handshake');
    expect(Buffer.from(bytes.subarray(0, prefix.length)).equals(prefix)).toBe(true);
    expect(decodeCanonical(bytes.subarray(prefix.length))).toEqual({
      client: client.did,
      nonce: transcript.nonce,
      server: server.did,
    });
    expect(toHex(bytes)).toBe(
      toHex(
        signingBytes('handshake', 'demo', {
          client: client.did,
          nonce: transcript.nonce,
          server: server.did,
        }),
      ),
    );
  });

  it.each([
    ['pool', { pool: 'other' }],
    ['nonce', { nonce: new Uint8Array(NONCE_BYTES).fill(8) }],
    ['client DID', { clientDid: server.did }],
    ['server DID', { serverDid: client.did }],
  ])('bind the %s: a signature does not carry over', (_, change) => {
    const signature = client.sign(handshakeSigningBytes(transcript));
    expect(verify(signature, handshakeSigningBytes(transcript), client.publicKey)).toBe(true);
    const other = handshakeSigningBytes({ ...transcript, ...change });
    expect(toHex(other)).not.toBe(toHex(handshakeSigningBytes(transcript)));
    expect(verify(signature, other, client.publicKey)).toBe(false);
  });

  it('refuse a bad pool name', () => {
    expect(thrown(() => handshakeSigningBytes({ ...transcript, pool: 'Demo' })).code).toBe(
      'identity/bad-pool',
    );
  });
});

// ---- hex dumps -----------------------------------------------------------------------------

const hexdumpAvailable = spawnSync('hexdump', ['-C'], { input: '' }).status === 0;

describe('formatHexDump', () => {
  it('prints 16 bytes a line: offset, two groups of eight, and the printable ASCII', () => {
    const dump = formatHexDump(Uint8Array.from({ length: 20 }, (_, i) => 0x3e + i));
    expect(dump.split('\n')).toEqual([
      '00000000  3e 3f 40 41 42 43 44 45  46 47 48 49 4a 4b 4c 4d  |>?@ABCDEFGHIJKLM|',
      '00000010  4e 4f 50 51                                       |NOPQ|',
    ]);
    expect(formatHexDump(new Uint8Array(0))).toBe('');
    expect(formatHexDump(hex('00 1f 20 7e 7f ff'))).toMatch(/\|\.\. ~\.\.\|$/);
  });

  it.runIf(hexdumpAvailable)('agrees with hexdump -C -v, but for its final offset line', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 100 }), (bytes) => {
        const out = spawnSync('hexdump', ['-C', '-v'], { input: bytes }).stdout.toString();
        const lines = out.trimEnd().split('\n');
        expect(formatHexDump(bytes)).toBe(lines.slice(0, -1).join('\n'));
      }),
      { numRuns: 20 },
    );
  });
});

// ---- PROTOCOL.md ---------------------------------------------------------------------------

const PROTOCOL = readFileSync(new URL('./PROTOCOL.md', import.meta.url), 'utf8');

/** The bytes of a formatHexDump block. */
function parseHexDump(dump: string): Uint8Array {
  return hex(
    dump
      .trim()
      .split('\n')
      .map((line) => line.slice(10, line.indexOf('|')))
      .join(''),
  );
}

/** A message as PROTOCOL.md writes it: JSON, with byte strings as "0x…" hex. */
function parseDocMessage(json: string): Message {
  const raw = JSON.parse(json) as Record<string, unknown>;
  const byteFields = new Set(['nonce', 'publicKey', 'signature']);
  const kinds = new Map(
    MESSAGE_SCHEMA[raw.type as MessageType].fields.map((f) => [f.key, f.kind] as const),
  );
  for (const [k, v] of Object.entries(raw))
    if (byteFields.has(kinds.get(k) ?? '') && typeof v === 'string' && v.startsWith('0x'))
      raw[k] = hex(v.slice(2));
  return raw as unknown as Message;
}

describe('PROTOCOL.md', () => {
  const examples = [
    ...PROTOCOL.matchAll(/```json\n([\s\S]*?)\n```\s*```hexdump\n([\s\S]*?)\n```/g),
  ].map(([, json, dump]) => ({
    message: parseDocMessage(json!),
    dump: dump!,
    bytes: parseHexDump(dump!),
  }));

  it('has at least three worked examples', () => {
    expect(examples.length).toBeGreaterThanOrEqual(3);
  });

  it('shows each example as encodeMessage and formatHexDump give it', () => {
    for (const { message, dump, bytes } of examples) {
      expect(formatHexDump(bytes)).toBe(dump);
      expect(toHex(encodeMessage(message))).toBe(toHex(bytes));
      expect(new MessageDecoder().push(bytes)).toEqual([{ ok: true, value: message }]);
    }
  });

  it('shows a handshake whose signature verifies over the signing bytes it shows', () => {
    const find = <T extends MessageType>(type: T) =>
      examples.find((e) => e.message.type === type)!.message as Extract<Message, { type: T }>;
    const connect = find('connect');
    const challenge = find('challenge');
    const response = find('response');
    const signed = handshakeSigningBytes({
      pool: connect.pool,
      nonce: challenge.nonce,
      clientDid: connect.did,
      serverDid: challenge.serverDid,
    });
    const [, dump] = PROTOCOL.match(/```hexdump handshake-signing-bytes\n([\s\S]*?)\n```/) ?? [];
    expect(formatHexDump(signed)).toBe(dump);
    expect(didMatchesKey(connect.did, connect.publicKey)).toBe(true);
    expect(verify(response.signature, signed, connect.publicKey)).toBe(true);
  });

  it('lists every message type with its type byte and fields', () => {
    const rows = [...PROTOCOL.matchAll(/^\| `0x([0-9a-f]{2})` \| (\w+) \| [^|]+ \| ([^|]*) \|$/gm)];
    const documented = Object.fromEntries(
      rows.map(([, code, name, fields]) => [
        name!.toLowerCase(),
        {
          code: Number.parseInt(code!, 16),
          fields: fields!.trim().replaceAll('`', '').split(/,\s*/),
        },
      ]),
    );
    const actual = Object.fromEntries(
      Object.entries(MESSAGE_SCHEMA).map(([name, s]) => [
        name,
        { code: s.code, fields: s.fields.map((f) => `${f.key}${f.optional ? '?' : ''}`) },
      ]),
    );
    expect(documented).toEqual(actual);
  });

  it('lists every reject code', () => {
    for (const c of REJECT_CODES) expect(PROTOCOL).toContain(`| \`${c}\` |`);
  });
});
