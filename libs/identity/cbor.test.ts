import {
  decode as cborgDecode,
  encode as cborgEncode,
  rfc8949EncodeOptions,
  Token,
  Type,
} from 'cborg';
import fc from 'fast-check';
import { CID } from 'multiformats/cid';
import { describe, expect, it } from 'vitest';
import { DiagonError } from '../db/errors.js';
import {
  type CanonicalValue,
  DEFAULT_MAX_DEPTH,
  decodeCanonical,
  encodeCanonical,
} from './cbor.js';
import { DAG_CBOR_CODEC, rawContentId } from './content-id.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s/g, ''), 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** What decoding gives back for `v`: safe bigints as numbers, -0 as 0, plain objects. */
function normalize(v: CanonicalValue): CanonicalValue {
  if (typeof v === 'bigint') return v >= MIN_SAFE && v <= MAX_SAFE ? Number(v) : v;
  if (typeof v === 'number') return v === 0 ? 0 : v;
  if (v === null || typeof v !== 'object' || v instanceof CID) return v;
  if (v instanceof Uint8Array) return Uint8Array.from(v);
  if (Array.isArray(v)) return v.map(normalize);
  const out: { [key: string]: CanonicalValue } = {};
  for (const [k, x] of Object.entries(v))
    Object.defineProperty(out, k, { value: normalize(x), enumerable: true, writable: true });
  return out;
}

/** Keys without "__proto__": cborg's decoder assigns keys, which would set the prototype. */
const key = fc.string({ unit: 'binary', maxLength: 6 }).filter((k) => k !== '__proto__');
const cid = fc
  .tuple(fc.uint8Array({ maxLength: 16 }), fc.constantFrom(0x55, DAG_CBOR_CODEC), fc.boolean())
  .map(([bytes, codec, v0]) => {
    const id = rawContentId(bytes, codec);
    return v0 ? CID.decode(id.multihash.bytes) : id; // a bare sha2-256 multihash is a CIDv0
  });
const leaf: fc.Arbitrary<CanonicalValue> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.maxSafeInteger(),
  fc.integer({ min: -30, max: 30 }),
  fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n - 1n }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.uint8Array({ maxLength: 12 }),
  cid,
);
const { value: canonicalValue } = fc.letrec<{ value: CanonicalValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(key, tie('value'), { maxKeys: 4 }),
  ),
}));

function malformedError(f: () => unknown): DiagonError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(DiagonError);
    expect((e as DiagonError).code).toBe('canonical/malformed');
    return e as DiagonError;
  }
  throw new Error('expected canonical/malformed, but it decoded');
}

describe('canonical CBOR round trip', () => {
  it('decodes what it encodes, and re-encodes to the same bytes', () => {
    fc.assert(
      fc.property(canonicalValue, (v) => {
        const bytes = encodeCanonical(v);
        const back = decodeCanonical(bytes);
        expect(back).toEqual(normalize(v));
        expect(toHex(encodeCanonical(back))).toBe(toHex(bytes));
      }),
      { numRuns: 400 },
    );
  });

  it('gives equal values equal bytes, whatever the key insertion order', () => {
    fc.assert(
      fc.property(fc.dictionary(key, leaf, { maxKeys: 8 }), (m) => {
        const reversed = Object.fromEntries(Object.entries(m).reverse());
        expect(toHex(encodeCanonical(reversed))).toBe(toHex(encodeCanonical(m)));
      }),
      { numRuns: 200 },
    );
  });

  it('returns integers as numbers when safe and as bigints otherwise', () => {
    expect(decodeCanonical(hex('1b001fffffffffffff'))).toBe(Number.MAX_SAFE_INTEGER);
    expect(decodeCanonical(hex('1b0020000000000000'))).toBe(2n ** 53n);
    expect(decodeCanonical(hex('3b001ffffffffffffe'))).toBe(Number.MIN_SAFE_INTEGER);
    expect(decodeCanonical(hex('3b001fffffffffffff'))).toBe(-(2n ** 53n));
    expect(toHex(encodeCanonical(2n ** 53n))).toBe('1b0020000000000000');
    expect(toHex(encodeCanonical(-0))).toBe('00');
  });

  it('keeps "__proto__" as an own key, in and out', () => {
    const v = JSON.parse('{"__proto__": 1, "a": 2}') as CanonicalValue;
    const back = decodeCanonical(encodeCanonical(v)) as Record<string, CanonicalValue>;
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.keys(back)).toEqual(['a', '__proto__']);
    expect(Object.getOwnPropertyDescriptor(back, '__proto__')?.value).toBe(1);
  });

  it('encodes a map whose "/" and "bytes" are equal as a map, not as a CID', () => {
    // CID.asCID accepts such objects; a data map must never be mistaken for one.
    const v = { '/': 'a', bytes: 'a' };
    expect(toHex(encodeCanonical(v))).toBe(toHex(cborgEncode(v, rfc8949EncodeOptions)));
    expect(decodeCanonical(encodeCanonical(v))).toEqual(v);
  });

  it('encodes a CID as tag 42 over 0x00 ‖ the CID bytes', () => {
    const id = rawContentId(Uint8Array.of(1, 2, 3));
    const bytes = encodeCanonical(id);
    expect(toHex(bytes.subarray(0, 5))).toBe(`d82a58${(id.bytes.length + 1).toString(16)}00`);
    expect(toHex(bytes.subarray(5))).toBe(toHex(id.bytes));
    expect((decodeCanonical(bytes) as CID).equals(id)).toBe(true);
  });
});

/** cborg with RFC 8949 bytewise key order, and CIDs as DAG-CBOR writes them. */
const cborgOptions = {
  ...rfc8949EncodeOptions,
  typeEncoders: {
    Object: (obj: unknown) => {
      if (!(obj instanceof CID)) return null;
      const bytes = new Uint8Array(obj.bytes.length + 1);
      bytes.set(obj.bytes, 1);
      return [new Token(Type.tag, 42), new Token(Type.bytes, bytes)];
    },
  },
};
const cborgTags: ((decode: () => unknown) => unknown)[] = [];
cborgTags[42] = (decode) => CID.decode((decode() as Uint8Array).subarray(1));
const cborgStrict = {
  strict: true,
  allowIndefinite: false,
  allowUndefined: false,
  rejectDuplicateMapKeys: true,
  tags: cborgTags,
};

describe('canonical CBOR against cborg', () => {
  it('produces the bytes cborg produces in RFC 8949 deterministic mode', () => {
    fc.assert(
      fc.property(canonicalValue, (v) => {
        expect(toHex(encodeCanonical(v))).toBe(toHex(cborgEncode(normalize(v), cborgOptions)));
      }),
      { numRuns: 400 },
    );
  });

  it('decodes to what strict cborg decodes, both ways', () => {
    fc.assert(
      fc.property(canonicalValue, (v) => {
        const ours = encodeCanonical(v);
        const theirs = cborgEncode(normalize(v), cborgOptions);
        expect(decodeCanonical(theirs)).toEqual(normalize(v));
        // cborg hands out Buffers where we hand out Uint8Arrays.
        expect(normalize(cborgDecode(ours, cborgStrict) as CanonicalValue)).toEqual(normalize(v));
      }),
      { numRuns: 300 },
    );
  });
});

/**
 * RFC 8949 Appendix A, as published in the cbor/test-vectors repository (appendix_a.json):
 * the examples inside the supported subset, with the value they stand for.
 */
const RFC8949_SUPPORTED: [string, CanonicalValue][] = [
  ['00', 0],
  ['01', 1],
  ['0a', 10],
  ['17', 23],
  ['1818', 24],
  ['1819', 25],
  ['1864', 100],
  ['1903e8', 1000],
  ['1a000f4240', 1000000],
  ['1b000000e8d4a51000', 1000000000000],
  ['1bffffffffffffffff', 18446744073709551615n],
  ['3bffffffffffffffff', -18446744073709551616n],
  ['20', -1],
  ['29', -10],
  ['3863', -100],
  ['3903e7', -1000],
  ['f4', false],
  ['f5', true],
  ['f6', null],
  ['40', new Uint8Array(0)],
  ['4401020304', Uint8Array.of(1, 2, 3, 4)],
  ['60', ''],
  ['6161', 'a'],
  ['6449455446', 'IETF'],
  ['62225c', '"\\'],
  ['62c3bc', '\u00fc'],
  ['63e6b0b4', '\u6c34'],
  ['64f0908591', '\u{10151}'],
  ['80', []],
  ['83010203', [1, 2, 3]],
  ['8301820203820405', [1, [2, 3], [4, 5]]],
  [
    '98190102030405060708090a0b0c0d0e0f101112131415161718181819',
    Array.from({ length: 25 }, (_, i) => i + 1),
  ],
  ['a0', {}],
  ['a26161016162820203', { a: 1, b: [2, 3] }],
  ['826161a161626163', ['a', { b: 'c' }]],
  ['a56161614161626142616361436164614461656145', { a: 'A', b: 'B', c: 'C', d: 'D', e: 'E' }],
];

/** RFC 8949 Appendix A examples outside the subset: each must be refused. */
const RFC8949_REFUSED: [string, string][] = [
  ['c249010000000000000000', 'bignum tag 2'],
  ['c349010000000000000000', 'bignum tag 3'],
  ['f90000', 'float 0.0'],
  ['f98000', 'float -0.0'],
  ['f93c00', 'float 1.0'],
  ['fb3ff199999999999a', 'float 1.1'],
  ['fa47c35000', 'float 100000.0'],
  ['f97c00', 'Infinity'],
  ['f97e00', 'NaN'],
  ['fb7ff8000000000000', 'NaN as float64'],
  ['f7', 'undefined'],
  ['f0', 'simple(16)'],
  ['f818', 'simple(24)'],
  ['f8ff', 'simple(255)'],
  ['c074323031332d30332d32315432303a30343a30305a', 'tag 0 (date string)'],
  ['c11a514b67b0', 'tag 1 (epoch)'],
  ['d74401020304', 'tag 23'],
  ['d818456449455446', 'tag 24'],
  ['d82076687474703a2f2f7777772e6578616d706c652e636f6d', 'tag 32 (URI)'],
  ['a201020304', 'integer map keys'],
  ['5f42010243030405ff', 'indefinite byte string'],
  ['7f657374726561646d696e67ff', 'indefinite text string'],
  ['9fff', 'indefinite empty array'],
  ['9f018202039f0405ffff', 'indefinite nested arrays'],
  ['83018202039f0405ff', 'indefinite inner array'],
  ['bf61610161629f0203ffff', 'indefinite map'],
  ['826161bf61626163ff', 'indefinite inner map'],
];

describe('RFC 8949 Appendix A', () => {
  it.each(RFC8949_SUPPORTED)('%s encodes and decodes', (bytes, value) => {
    expect(toHex(encodeCanonical(value))).toBe(bytes);
    expect(decodeCanonical(hex(bytes))).toEqual(value);
  });

  it.each(RFC8949_REFUSED)('%s (%s) is refused', (bytes) => {
    malformedError(() => decodeCanonical(hex(bytes)));
  });
});

describe('the strict decoder', () => {
  it.each([
    ['1800', 'uint 0 in one extra byte'],
    ['1817', 'uint 23 in one extra byte'],
    ['1900ff', 'uint 255 in two bytes'],
    ['1a0000ffff', 'uint 65535 in four bytes'],
    ['1b00000000ffffffff', 'uint 2^32-1 in eight bytes'],
    ['3800', 'negative -1 in one extra byte'],
    ['5800', 'byte string length in one extra byte'],
    ['780161', 'text length in one extra byte'],
    ['980100', 'array length in one extra byte'],
    ['b8016161 01', 'map length in one extra byte'],
    ['d9002a450001550000', 'tag 42 in two bytes'],
  ])('refuses %s (%s: not the shortest form)', (bytes) => {
    expect(malformedError(() => decodeCanonical(hex(bytes))).message).toMatch(/shortest/);
  });

  it.each([
    ['a2616201616102', '{"b": 1, "a": 2}: unsorted'],
    ['a2616101616102', '{"a": 1, "a": 2}: duplicate'],
    ['a262616101616202', '{"aa": 1, "b": 2}: shorter keys sort first'],
  ])('refuses %s (%s)', (bytes) => {
    expect(malformedError(() => decodeCanonical(hex(bytes))).message).toMatch(/out of order/);
  });

  it('sorts keys by their encoded bytes, so shorter keys first', () => {
    expect(toHex(encodeCanonical({ aa: 1, b: 2 }))).toBe('a261620262616101');
  });

  it.each([
    ['a10102', 'an integer key'],
    ['a1410101', 'a byte-string key'],
  ])('refuses %s (%s)', (bytes) => {
    expect(malformedError(() => decodeCanonical(hex(bytes))).message).toMatch(/text strings/);
  });

  it.each([
    ['f93e00', /floats/],
    ['fa47c35000', /floats/],
    ['fb3ff199999999999a', /floats/],
    ['ff', /indefinite/],
    ['1c', /reserved/],
    ['0000', /trailing/],
    ['8101ff', /trailing/],
    ['', /past the end/],
    ['19 01', /past the end/],
    ['62 61', /larger than the rest/],
    ['5a ffffffff', /larger than the rest/],
    ['9b 0000000100000000', /larger than the rest/],
    ['bb ffffffffffffffff', /larger than the rest/],
    ['a2 6161 01', /larger than the rest/],
    ['62 c328', /UTF-8/],
    ['61 ff', /UTF-8/],
    ['62 c0af', /UTF-8/],
    ['63 eda080', /UTF-8/],
    ['d82a 00', /byte string/],
    ['d82a 4101', /0x00 prefix/],
    ['d82a 4200ff', /not a CID/],
  ])('refuses %s', (bytes, why) => {
    expect(malformedError(() => decodeCanonical(hex(bytes))).message).toMatch(why);
  });

  it(`refuses nesting deeper than maxDepth (${DEFAULT_MAX_DEPTH} by default)`, () => {
    const nested = (n: number) => hex(`${'81'.repeat(n)}00`);
    expect(() => decodeCanonical(nested(DEFAULT_MAX_DEPTH))).not.toThrow();
    expect(malformedError(() => decodeCanonical(nested(DEFAULT_MAX_DEPTH + 1))).message).toMatch(
      /nesting/,
    );
    expect(malformedError(() => decodeCanonical(hex('a16161a0'), { maxDepth: 1 })).message).toMatch(
      /nesting/,
    );
    expect(decodeCanonical(hex('a16161a0'), { maxDepth: 2 })).toEqual({ a: {} });
  });

  it('copies byte strings out of a Buffer instead of handing out views of it', () => {
    const input = Buffer.from(encodeCanonical([Uint8Array.of(1, 2, 3), rawContentId(hex('00'))]));
    const [bytes, id] = decodeCanonical(input) as [Uint8Array, CID];
    const before = id.toString();
    input.fill(0xee);
    expect(Object.getPrototypeOf(bytes)).toBe(Uint8Array.prototype);
    expect([...bytes]).toEqual([1, 2, 3]);
    expect(id.toString()).toBe(before);
  });

  it('reads from a view into a larger buffer', () => {
    const buffer = hex('ff 83010203 ff');
    expect(decodeCanonical(buffer.subarray(1, 5))).toEqual([1, 2, 3]);
  });
});

describe('decoding hostile bytes', () => {
  const decodeOrMalformed = (bytes: Uint8Array) => {
    let value: CanonicalValue;
    try {
      value = decodeCanonical(bytes);
    } catch (e) {
      expect(e).toBeInstanceOf(DiagonError);
      expect((e as DiagonError).code).toBe('canonical/malformed');
      return;
    }
    // Whatever is accepted is canonical: encoding it gives the input back.
    expect(toHex(encodeCanonical(value))).toBe(toHex(bytes));
  };

  it('random bytes decode canonically or fail with canonical/malformed', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), decodeOrMalformed), { numRuns: 500 });
  });

  it('mutated encodings decode canonically or fail with canonical/malformed', () => {
    const mutated = fc
      .tuple(
        canonicalValue,
        fc.nat(),
        fc.nat({ max: 255 }),
        fc.constantFrom('set', 'cut', 'insert'),
      )
      .map(([v, at, byte, how]) => {
        const bytes = encodeCanonical(v);
        const i = at % (bytes.length + 1);
        if (how === 'cut') return bytes.subarray(0, i);
        if (how === 'insert')
          return Uint8Array.from([...bytes.subarray(0, i), byte, ...bytes.subarray(i)]);
        const out = Uint8Array.from(bytes);
        out[i % bytes.length] = byte;
        return out;
      });
    fc.assert(fc.property(mutated, decodeOrMalformed), { numRuns: 500 });
  });
});

describe('the encoder refuses what has no canonical form', () => {
  class Point {
    x = 1;
  }
  const cycle: unknown[] = [];
  cycle.push(cycle);
  it.each<[string, unknown, RegExp]>([
    ['undefined', { a: [1, undefined] }, /undefined at \$\.a\[1\]/],
    ['a float', { price: 1.5 }, /1\.5 at \$\.price/],
    ['NaN', Number.NaN, /NaN/],
    ['Infinity', Number.POSITIVE_INFINITY, /Infinity/],
    ['an unsafe number', 2 ** 53, /bigints/],
    ['a bigint past 2^64-1', 2n ** 64n, /64 bits/],
    ['a bigint below -2^64', -(2n ** 64n) - 1n, /64 bits/],
    ['a lone surrogate', 'a\ud800b', /lone surrogate/],
    ['a lone surrogate in a key', { '\udc00': 1 }, /lone surrogate/],
    ['a Date', new Date(0), /Date/],
    ['a Map', new Map(), /Map/],
    ['a class instance', new Point(), /Point/],
    ['a Uint16Array', new Uint16Array(2), /Uint16Array/],
    ['a function', () => 1, /function/],
    ['a symbol', Symbol('s'), /symbol/],
    ['a cycle', cycle, /deeper than/],
  ])('%s', (_, value, message) => {
    let error: unknown;
    try {
      encodeCanonical(value as CanonicalValue);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DiagonError);
    expect((error as DiagonError).code).toBe('canonical/unsupported');
    expect((error as DiagonError).message).toMatch(message);
  });

  it('refuses nesting deeper than maxDepth', () => {
    let v: CanonicalValue = 0;
    for (let i = 0; i < 3; i++) v = [v];
    expect(toHex(encodeCanonical(v, { maxDepth: 3 }))).toBe('81818100');
    expect(() => encodeCanonical(v, { maxDepth: 2 })).toThrow(/deeper than 2/);
  });
});
