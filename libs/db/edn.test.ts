import { parseEDNString } from 'edn-data';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseEdn, parseEdnAll, printEdn } from './edn.js';
import { DiagonError } from './errors.js';
import { Keyword, kw, List, Sym, sym, Tagged, Uuid } from './values.js';

const name = fc.stringMatching(/^[a-z][a-z0-9*!_?-]{0,8}$/);
const qualified = fc
  .tuple(fc.option(name, { nil: null }), name)
  .map(([ns, n]) => (ns === null ? n : `${ns}/${n}`));

/** Every JS value the EDN mapping covers. */
const ednValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  scalar: fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double(),
    fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }),
    fc.string({ unit: 'grapheme' }),
    fc.string({ unit: 'binary' }),
    qualified.map(kw),
    qualified.filter((s) => !['nil', 'true', 'false'].includes(s)).map(sym),
    fc.date({ noInvalidDate: true, min: new Date(-8e15), max: new Date(8e15) }),
    fc.uuid().map((u) => new Uuid(u)),
    fc.uint8Array({ maxLength: 20 }),
  ),
  value: fc.oneof(
    { depthSize: 'small' },
    tie('scalar'),
    tie('vector'),
    tie('list'),
    tie('set'),
    tie('map'),
    tie('tagged'),
  ),
  vector: fc.array(tie('value'), { maxLength: 4 }),
  list: fc.array(tie('value'), { maxLength: 4 }).map((xs) => new List(xs)),
  set: fc
    .uniqueArray(fc.oneof(fc.integer(), qualified.map(kw), fc.string()), { maxLength: 4 })
    .map((xs) => new Set(xs)),
  map: fc
    .uniqueArray(fc.tuple(fc.oneof(qualified.map(kw), fc.string(), fc.integer()), tie('value')), {
      maxLength: 4,
      selector: ([k]) => k,
    })
    .map((entries) => new Map(entries)),
  tagged: fc
    .tuple(
      qualified.filter((s) => s.includes('/') && !s.startsWith('diagon/')),
      tie('value'),
    )
    .map(([t, v]) => new Tagged(t, v)),
})).value;

/** Structural equality that knows the EDN classes (NaN equals NaN, -0 is not 0). */
function same(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (a instanceof List && b instanceof List) return same(a.items, b.items);
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (a instanceof Uuid && b instanceof Uuid) return a.value === b.value;
  if (a instanceof Uint8Array && b instanceof Uint8Array)
    return Buffer.from(a).equals(Buffer.from(b));
  if (a instanceof Tagged && b instanceof Tagged) return a.tag === b.tag && same(a.value, b.value);
  if (a instanceof Set && b instanceof Set)
    return a.size === b.size && [...a].every((x) => b.has(x));
  if (a instanceof Map && b instanceof Map) {
    return a.size === b.size && [...a].every(([k, v]) => b.has(k) && same(v, b.get(k)));
  }
  return false;
}

describe('EDN', () => {
  it('round-trips every value of the mapping: parse(print(x)) equals x', () => {
    fc.assert(
      fc.property(ednValue, (x) => {
        const text = printEdn(x);
        const back = parseEdn(text);
        if (!same(back, x)) throw new Error(`round trip changed ${text} into ${printEdn(back)}`);
      }),
      { numRuns: 1000 },
    );
  });

  it('reads the EDN scalars, collections and tags into the documented JS values', () => {
    const v = parseEdn(
      '[nil true false "s\\n\\"q\\"" \\c \\newline 42 -7 42N 99999999999999999999 1.5 1e3 2.5M ##Inf ##-Inf :a/b sym (1 2) #{1} {:k 1} #inst "2020-01-02T03:04:05.678Z" #uuid "550E8400-e29b-41d4-a716-446655440000" #my/tag [1]]',
    ) as unknown[];
    expect(v.slice(0, 6)).toEqual([null, true, false, 's\n"q"', 'c', '\n']);
    expect(v.slice(6, 13)).toEqual([42, -7, 42n, 99999999999999999999n, 1.5, 1000, 2.5]);
    expect(v[13]).toBe(Number.POSITIVE_INFINITY);
    expect(v[14]).toBe(Number.NEGATIVE_INFINITY);
    expect(v[15]).toBe(Keyword.of('a/b'));
    expect(v[16]).toBe(Sym.of('sym'));
    expect(v[17]).toBeInstanceOf(List);
    expect(v[18]).toEqual(new Set([1]));
    expect((v[19] as Map<unknown, unknown>).get(kw('k'))).toBe(1);
    expect((v[20] as Date).toISOString()).toBe('2020-01-02T03:04:05.678Z');
    expect((v[21] as Uuid).value).toBe('550e8400-e29b-41d4-a716-446655440000');
    expect(v[22]).toEqual(new Tagged('my/tag', [1]));
    expect(Number.isNaN(parseEdn('##NaN'))).toBe(true);
    expect(parseEdn('#inst "2020-01-02T05:04:05+02:00"')).toEqual(new Date('2020-01-02T03:04:05Z'));
  });

  it('skips whitespace, commas, comments and #_ discards', () => {
    expect(parseEdn(' ; comment\n [1, 2 #_ 3 #_[4 5] 6] ; tail')).toEqual([1, 2, 6]);
    expect(parseEdnAll('1 :a "b"')).toEqual([1, kw('a'), 'b']);
  });

  it('prints plain objects as maps with keyword keys (the JS form of entity maps)', () => {
    expect(printEdn({ 'person/name': 'Ivan', ':db/id': 1, 'not a keyword': true })).toBe(
      '{:person/name "Ivan", :db/id 1, "not a keyword" true}',
    );
    expect(printEdn([1.0, 1.5, -0, 2 ** 60, 10n])).toBe('[1 1.5 -0.0 1152921504606847000.0 10N]');
    expect(parseEdn(printEdn(2 ** 60))).toBe(2 ** 60);
  });

  it('rejects malformed input with a DiagonError that says where', () => {
    const cases: [string, RegExp][] = [
      ['[1 2', /vector opened here is never closed at line 1, column 1/],
      ['{:a}', /odd number of forms/],
      [')', /unmatched '\)'/],
      ['"abc', /string opened here is never closed/],
      ['"\\q"', /unknown escape/],
      ['1 2', /unexpected content after the first form/],
      ['{:a 1 :a 2}', /duplicate map key :a/],
      ['#{1 1}', /duplicate set element 1/],
      ['#inst "yesterday"', /not an RFC 3339 timestamp/],
      ['#inst "2020-02-30"', /not an RFC 3339 timestamp/],
      ['#uuid "nope"', /not a UUID/],
      ['0x10', /invalid number/],
      ['1.2.3', /invalid number/],
      ['::a', /invalid keyword/],
      [':', /invalid keyword/],
      ['##Foo', /unknown symbolic value/],
      ['\\nope', /unknown character literal/],
      ['', /unexpected end of input/],
      ['[\n  1\n  "x', /line 3, column 3/],
    ];
    for (const [text, message] of cases) {
      let error: unknown;
      try {
        parseEdn(text);
      } catch (e) {
        error = e;
      }
      expect(error, text).toBeInstanceOf(DiagonError);
      expect((error as DiagonError).code).toBe('edn/parse');
      expect((error as DiagonError).message, text).toMatch(message);
    }
  });

  it('refuses nesting deeper than the limit instead of overflowing the stack', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    expect(() => parseEdn(deep)).toThrow(/nesting deeper than 1000/);
    expect(parseEdn('[[[1]]]', { maxDepth: 3 })).toEqual([[[1]]]);
    expect(() => parseEdn('[[[1]]]', { maxDepth: 2 })).toThrow(/nesting deeper than 2/);
  });

  it('never throws anything but a DiagonError on arbitrary input', () => {
    const edny = fc
      .array(fc.constantFrom(...'[](){}#"\\:;,_ ^@~`\'aZ09.+-/NM\n\t#{}##'.split('')), {
        maxLength: 40,
      })
      .map((cs) => cs.join(''));
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), edny), (text) => {
        try {
          parseEdn(text);
        } catch (e) {
          if (!(e instanceof DiagonError)) throw e;
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('agrees with edn-data on the valid inputs both read', () => {
    // edn-data's representation, translated to ours; integers stay in the safe range,
    // where edn-data keeps precision.
    const fromEdnData = (x: unknown): unknown => {
      if (Array.isArray(x)) return x.map(fromEdnData);
      if (x instanceof Map)
        return new Map([...x].map(([k, v]) => [fromEdnData(k), fromEdnData(v)]));
      if (x instanceof Set) return new Set([...x].map(fromEdnData));
      if (x !== null && typeof x === 'object') {
        const o = x as Record<string, unknown>;
        if ('key' in o) return kw(o.key as string);
        if ('sym' in o) return sym(o.sym as string);
        if ('list' in o) return new List((o.list as unknown[]).map(fromEdnData));
        if ('tag' in o && o.tag === 'uuid') return new Uuid(o.val as string);
      }
      return x;
    };
    const valid = fc.letrec((tie) => ({
      v: fc.oneof(
        { depthSize: 'small' },
        fc.integer(),
        fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Object.is(d, -0)),
        fc.string({ unit: 'grapheme-ascii' }),
        qualified.map(kw),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie('v'), { maxLength: 3 }),
        fc.array(tie('v'), { maxLength: 3 }).map((xs) => new List(xs)),
      ),
    })).v;
    fc.assert(
      fc.property(valid, (x) => {
        const text = printEdn(x);
        const theirs = fromEdnData(
          parseEDNString(text, {
            mapAs: 'map',
            setAs: 'set',
            listAs: 'object',
            keywordAs: 'object',
            symbolAs: 'object',
          }),
        );
        expect(same(parseEdn(text), theirs)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
