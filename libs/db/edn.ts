/**
 * EDN reader and printer.
 *
 * Mapping to JS (and back):
 *   nil → null · true/false → boolean · "s" → string · \c → one-character string
 *   42 → number (integers beyond 2^53 and 42N → bigint) · 1.5, 1e3, 1.5M → number
 *   ##Inf ##-Inf ##NaN → Infinity -Infinity NaN
 *   :a/b → Keyword (interned) · sym → Sym (interned)
 *   [ ] → Array · ( ) → List · #{ } → Set · { } → Map (keys kept as read)
 *   #inst "…" → Date · #uuid "…" → Uuid · #diagon/bytes "base64" → Uint8Array
 *   #other/tag v → Tagged
 * Map keys and set elements compare as JS Map/Set do: keywords, symbols, strings,
 * numbers and booleans by value (keywords and symbols are interned), anything else by identity.
 * Printing is the inverse; plain JS objects print as maps with keyword keys (the JS
 * convention for idents: `{ "person/name": "Ivan" }` ↔ `{:person/name "Ivan"}`), and
 * read back as Map. `parseEdn(printEdn(x))` equals `x` for every value above; the one
 * loss the other way is that a float with an integral value (`1.0`) reads as the number 1.
 */
import { DiagonError } from './errors.js';
import { Keyword, List, Sym, Tagged, Uuid } from './values.js';

export interface ReadOptions {
  /** Nesting deeper than this is refused (default 1000) so hostile input cannot overflow the stack. */
  maxDepth?: number;
}

const MAX_DEPTH = 1000;

const NAMED_CHARS: Record<string, string> = {
  newline: '\n',
  return: '\r',
  space: ' ',
  tab: '\t',
  formfeed: '\f',
  backspace: '\b',
};

function isWhitespace(c: number): boolean {
  return c === 32 || c === 44 || (c >= 9 && c <= 13);
}

function isDelimiter(c: number): boolean {
  // ( ) [ ] { } " ;
  return (
    isWhitespace(c) ||
    c === 40 ||
    c === 41 ||
    c === 91 ||
    c === 93 ||
    c === 123 ||
    c === 125 ||
    c === 34 ||
    c === 59
  );
}

const INT_RE = /^[+-]?(0|[1-9][0-9]*)N?$/;
const FLOAT_RE = /^[+-]?(0|[1-9][0-9]*)(\.[0-9]*)?([eE][+-]?[0-9]+)?M?$/;
const SYMBOL_RE =
  /^(?:[A-Za-z*!_?$%&=<>.|+-][A-Za-z0-9*!_?$%&=<>.|+\-:#']*)(?:\/[A-Za-z0-9*!_?$%&=<>.|+\-:#']+)?$/;

class Reader {
  private pos = 0;
  private depth = 0;

  constructor(
    private readonly src: string,
    private readonly maxDepth: number,
  ) {}

  fail(message: string, at: number = this.pos): never {
    let line = 1;
    let col = 1;
    for (let i = 0; i < at && i < this.src.length; i++) {
      if (this.src.charCodeAt(i) === 10) {
        line++;
        col = 1;
      } else col++;
    }
    throw new DiagonError('edn/parse', `EDN: ${message} at line ${line}, column ${col}`, {
      line,
      column: col,
      offset: at,
    });
  }

  /** Skips whitespace, commas, comments and `#_` discards. Returns false at end of input. */
  private skip(): boolean {
    const s = this.src;
    while (this.pos < s.length) {
      const c = s.charCodeAt(this.pos);
      if (isWhitespace(c)) this.pos++;
      else if (c === 59) {
        while (this.pos < s.length && s.charCodeAt(this.pos) !== 10) this.pos++;
      } else if (c === 35 && s.charCodeAt(this.pos + 1) === 95) {
        this.pos += 2;
        if (!this.skip()) this.fail('#_ with nothing to discard');
        this.readForm();
      } else return true;
    }
    return false;
  }

  atEnd(): boolean {
    return !this.skip();
  }

  readForm(): unknown {
    if (!this.skip()) this.fail('unexpected end of input');
    const s = this.src;
    const start = this.pos;
    const c = s.charCodeAt(start);
    switch (c) {
      case 40: // (
        this.pos++;
        return new List(this.readSeq(41, 'list', start));
      case 91: // [
        this.pos++;
        return this.readSeq(93, 'vector', start);
      case 123: // {
        this.pos++;
        return this.readMap(start);
      case 41:
      case 93:
      case 125:
        return this.fail(`unmatched '${s[start]}'`);
      case 34: // "
        return this.readString();
      case 92: // \
        return this.readChar();
      case 58: // :
        return this.readKeyword();
      case 35: // #
        return this.readDispatch();
      default:
        return this.readAtom();
    }
  }

  private enter(start: number): void {
    if (++this.depth > this.maxDepth) this.fail(`nesting deeper than ${this.maxDepth}`, start);
  }

  private readSeq(close: number, kind: string, start: number): unknown[] {
    this.enter(start);
    const out: unknown[] = [];
    for (;;) {
      if (!this.skip()) this.fail(`${kind} opened here is never closed`, start);
      if (this.src.charCodeAt(this.pos) === close) {
        this.pos++;
        this.depth--;
        return out;
      }
      out.push(this.readForm());
    }
  }

  private readMap(start: number): Map<unknown, unknown> {
    const items = this.readSeq(125, 'map', start);
    if (items.length % 2 !== 0) this.fail('map literal has an odd number of forms', start);
    const m = new Map<unknown, unknown>();
    for (let i = 0; i < items.length; i += 2) {
      const k = items[i];
      if (m.has(k)) this.fail(`duplicate map key ${printEdn(items[i])}`, start);
      m.set(k, items[i + 1]);
    }
    return m;
  }

  private readString(): string {
    const s = this.src;
    const start = this.pos;
    let i = this.pos + 1;
    let out = '';
    let chunk = i;
    for (;;) {
      if (i >= s.length) this.fail('string opened here is never closed', start);
      const c = s.charCodeAt(i);
      if (c === 34) {
        out += s.slice(chunk, i);
        this.pos = i + 1;
        return out;
      }
      if (c === 92) {
        out += s.slice(chunk, i);
        const e = s[i + 1];
        switch (e) {
          case 't':
            out += '\t';
            break;
          case 'r':
            out += '\r';
            break;
          case 'n':
            out += '\n';
            break;
          case 'b':
            out += '\b';
            break;
          case 'f':
            out += '\f';
            break;
          case '\\':
            out += '\\';
            break;
          case '"':
            out += '"';
            break;
          case 'u': {
            const hex = s.slice(i + 2, i + 6);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('bad \\u escape in string', i);
            out += String.fromCharCode(Number.parseInt(hex, 16));
            i += 4;
            break;
          }
          default:
            this.fail(`unknown escape \\${e ?? ''} in string`, i);
        }
        i += 2;
        chunk = i;
        continue;
      }
      i++;
    }
  }

  private token(): string {
    const s = this.src;
    const start = this.pos;
    let i = start + 1;
    while (i < s.length && !isDelimiter(s.charCodeAt(i))) i++;
    this.pos = i;
    return s.slice(start, i);
  }

  private readChar(): string {
    const start = this.pos;
    const tok = this.token().slice(1);
    if (tok.length === 0) {
      // `\` followed by a delimiter character names that character, e.g. `\(`
      if (this.pos < this.src.length) return this.src[this.pos++]!;
      this.fail('character literal with no character', start);
    }
    if (tok.length === 1) return tok;
    const named = NAMED_CHARS[tok];
    if (named !== undefined) return named;
    if (/^u[0-9a-fA-F]{4}$/.test(tok))
      return String.fromCharCode(Number.parseInt(tok.slice(1), 16));
    return this.fail(`unknown character literal \\${tok}`, start);
  }

  private readKeyword(): Keyword {
    const start = this.pos;
    const tok = this.token();
    const name = tok.slice(1);
    if (name.length === 0 || name.startsWith(':') || name.endsWith('/') || !SYMBOL_RE.test(name)) {
      this.fail(`invalid keyword ${tok}`, start);
    }
    return Keyword.of(name);
  }

  private readDispatch(): unknown {
    const s = this.src;
    const start = this.pos;
    const next = s.charCodeAt(start + 1);
    if (next === 123) {
      // #{
      this.pos += 2;
      const items = this.readSeq(125, 'set', start);
      const set = new Set<unknown>();
      for (const it of items) {
        if (set.has(it)) this.fail(`duplicate set element ${printEdn(it)}`, start);
        set.add(it);
      }
      return set;
    }
    if (next === 35) {
      // ##Inf ##-Inf ##NaN
      this.pos += 1;
      const tok = this.token().slice(1);
      if (tok === 'Inf') return Number.POSITIVE_INFINITY;
      if (tok === '-Inf') return Number.NEGATIVE_INFINITY;
      if (tok === 'NaN') return Number.NaN;
      return this.fail(`unknown symbolic value ##${tok}`, start);
    }
    const tag = this.token().slice(1);
    if (!/^[A-Za-z]/.test(tag) || !SYMBOL_RE.test(tag)) this.fail(`invalid tag #${tag}`, start);
    const value = this.readForm();
    switch (tag) {
      case 'inst': {
        if (typeof value !== 'string') this.fail('#inst needs a string', start);
        const d = parseInstant(value);
        if (d === null)
          this.fail(`#inst ${JSON.stringify(value)} is not an RFC 3339 timestamp`, start);
        return d;
      }
      case 'uuid':
        if (typeof value !== 'string' || !Uuid.isText(value)) {
          this.fail(`#uuid ${printEdn(value)} is not a UUID`, start);
        }
        return new Uuid(value);
      case 'diagon/bytes':
        if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) {
          this.fail('#diagon/bytes needs a base64 string', start);
        }
        return new Uint8Array(Buffer.from(value, 'base64'));
      default:
        return new Tagged(tag, value);
    }
  }

  private readAtom(): unknown {
    const start = this.pos;
    const tok = this.token();
    const c = tok.charCodeAt(0);
    const numeric = (c >= 48 && c <= 57) || ((c === 43 || c === 45) && /^[+-][0-9]/.test(tok));
    if (numeric) {
      if (INT_RE.test(tok)) {
        if (tok.endsWith('N')) return BigInt(tok.slice(0, -1));
        const n = Number(tok);
        return Number.isSafeInteger(n) ? n : BigInt(tok);
      }
      if (FLOAT_RE.test(tok)) return Number(tok.endsWith('M') ? tok.slice(0, -1) : tok);
      return this.fail(`invalid number ${tok}`, start);
    }
    if (tok === 'nil') return null;
    if (tok === 'true') return true;
    if (tok === 'false') return false;
    if (tok === '/') return Sym.of('/');
    if (!SYMBOL_RE.test(tok) || tok.endsWith('/')) this.fail(`invalid symbol ${tok}`, start);
    return Sym.of(tok);
  }
}

const INSTANT_RE =
  /^([+-]\d{6}|\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)?)?(Z|[+-]\d{2}:\d{2})?$/;

/** RFC 3339 (and the six-digit signed years JS prints outside 0000–9999). */
function parseInstant(s: string): Date | null {
  const m = INSTANT_RE.exec(s);
  if (m === null) return null;
  const [, y, mo = '01', d = '01', h = '00', mi = '00', sec = '00', frac = '', zone = 'Z'] = m;
  const ms = frac.length > 0 ? Number(frac.slice(0, 3).padEnd(3, '0')) : 0;
  if (Number(h) > 23 || Number(mi) > 59 || Number(sec) > 59) return null;
  const date = new Date(0);
  date.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
  date.setUTCHours(Number(h), Number(mi), Number(sec), ms);
  if (date.getUTCMonth() !== Number(mo) - 1 || date.getUTCDate() !== Number(d)) return null;
  if (zone !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const offset = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
    date.setTime(date.getTime() - offset * 60_000);
  }
  return Number.isNaN(date.getTime()) ? null : date;
}

/** Reads exactly one EDN form; trailing content is an error. */
export function parseEdn(text: string, opts: ReadOptions = {}): unknown {
  if (typeof text !== 'string') {
    throw new DiagonError('edn/parse', `EDN: expected a string, got ${typeof text}`);
  }
  const r = new Reader(text, opts.maxDepth ?? MAX_DEPTH);
  const form = r.readForm();
  if (!r.atEnd()) r.fail('unexpected content after the first form');
  return form;
}

/** Reads every form in the text (an EDN file of several forms). */
export function parseEdnAll(text: string, opts: ReadOptions = {}): unknown[] {
  const r = new Reader(text, opts.maxDepth ?? MAX_DEPTH);
  const out: unknown[] = [];
  while (!r.atEnd()) out.push(r.readForm());
  return out;
}

function printString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 34) out += '\\"';
    else if (c === 92) out += '\\\\';
    else if (c === 10) out += '\\n';
    else if (c === 13) out += '\\r';
    else if (c === 9) out += '\\t';
    else if (c < 32 || c === 0x7f) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += s[i];
  }
  return `${out}"`;
}

function printNumber(n: number): string {
  if (Number.isNaN(n)) return '##NaN';
  if (n === Number.POSITIVE_INFINITY) return '##Inf';
  if (n === Number.NEGATIVE_INFINITY) return '##-Inf';
  if (Object.is(n, -0)) return '-0.0';
  if (Number.isInteger(n) && !Number.isSafeInteger(n)) {
    // Keep it a float when read back: an integer this large would read as bigint.
    const s = String(n);
    return s.includes('e') ? s : `${s}.0`;
  }
  return String(n);
}

const KEY_AS_KEYWORD =
  /^[A-Za-z*!_?$%&=<>.|+-][A-Za-z0-9*!_?$%&=<>.|+\-:#']*(\/[A-Za-z0-9*!_?$%&=<>.|+\-:#']+)?$/;

/** Prints a value as EDN text. Throws a DiagonError for values EDN cannot carry. */
export function printEdn(x: unknown): string {
  switch (typeof x) {
    case 'string':
      return printString(x);
    case 'number':
      return printNumber(x);
    case 'bigint':
      return `${x}N`;
    case 'boolean':
      return x ? 'true' : 'false';
    case 'undefined':
      return 'nil';
    case 'object':
      break;
    default:
      throw new DiagonError('edn/print', `EDN cannot print a ${typeof x}`);
  }
  if (x === null) return 'nil';
  if (x instanceof Keyword) return `:${x.fqn}`;
  if (x instanceof Sym) return x.name;
  if (Array.isArray(x)) return `[${x.map(printEdn).join(' ')}]`;
  if (x instanceof List) return `(${x.items.map(printEdn).join(' ')})`;
  if (x instanceof Date) {
    if (Number.isNaN(x.getTime()))
      throw new DiagonError('edn/print', 'EDN cannot print an invalid Date');
    return `#inst ${printString(x.toISOString())}`;
  }
  if (x instanceof Uuid) return `#uuid ${printString(x.value)}`;
  if (x instanceof Uint8Array)
    return `#diagon/bytes ${printString(Buffer.from(x).toString('base64'))}`;
  if (x instanceof Tagged) return `#${x.tag} ${printEdn(x.value)}`;
  if (x instanceof Set) return `#{${[...x].map(printEdn).join(' ')}}`;
  if (x instanceof Map) {
    const parts: string[] = [];
    for (const [k, v] of x) parts.push(`${printEdn(k)} ${printEdn(v)}`);
    return `{${parts.join(', ')}}`;
  }
  const custom = (x as { toEdn?: () => string }).toEdn;
  if (typeof custom === 'function') return custom.call(x);
  const parts: string[] = [];
  for (const [k, v] of Object.entries(x)) {
    const key = k.startsWith(':') ? k.slice(1) : k;
    parts.push(`${KEY_AS_KEYWORD.test(key) ? `:${key}` : printString(k)} ${printEdn(v)}`);
  }
  return `{${parts.join(', ')}}`;
}
