/**
 * The Datalog query language (Datomic's grammar) read into a typed form. Malformed input
 * fails here, with a DiagonError that names the offending clause, never later.
 *
 *   query   = [:find find-spec return-map? (:with ?v+)? (:in input+)? (:where clause+)?]
 *             or the same as a map {:find [...] :in [...] :where [...]}
 *   clause  = [src? e a v tx added]      data pattern (trailing parts optional)
 *           | [(pred arg+)]              predicate
 *           | [(fn arg+) binding]        function with a binding form
 *           | (src? rule-name arg+)      rule call
 *           | (src? not clause+) | (src? not-join [?v+] clause+)
 *           | (src? or clause-or-and+) | (src? or-join [[?req+] ?v*] clause-or-and+)
 *   binding = ?v | [?a ?b] | [?a ...] | [[?a ?b]]     (`_` where a var goes)
 */
import { parseEdn, printEdn } from '../edn.js';
import { DiagonError } from '../errors.js';
import { Keyword, List, Sym } from '../values.js';

/** A query variable (`?x`); interned, so `===` compares them. */
export class Var {
  private static readonly table = new Map<string, Var>();
  private constructor(readonly name: string) {}
  static of(name: string): Var {
    let v = Var.table.get(name);
    if (v === undefined) Var.table.set(name, (v = new Var(name)));
    return v;
  }
  toString(): string {
    return this.name;
  }
}

/** `_`: matches anything, binds nothing. */
export const BLANK: unique symbol = Symbol('_');

/** A source variable (`$`, `$hist`). */
export class Src {
  constructor(readonly name: string) {}
}

/** A term of a pattern or an argument: a variable, `_`, a source, or a constant. */
export type Term = Var | typeof BLANK | Src | { readonly const: unknown };

export const isVar = (t: unknown): t is Var => t instanceof Var;
export const isConst = (t: Term): t is { readonly const: unknown } =>
  typeof t === 'object' && t !== null && !(t instanceof Var) && !(t instanceof Src);

export type Binding =
  | { kind: 'scalar'; v: Var | typeof BLANK }
  | { kind: 'tuple'; vs: (Var | typeof BLANK)[] }
  | { kind: 'coll'; v: Var | typeof BLANK }
  | { kind: 'rel'; vs: (Var | typeof BLANK)[] };

export type Clause =
  | { type: 'pattern'; src: string; terms: Term[]; form: unknown }
  | { type: 'pred'; fn: string; args: Term[]; form: unknown }
  | { type: 'fn'; fn: string; args: Term[]; binding: Binding; form: unknown }
  | { type: 'rule'; src: string; name: string; args: Term[]; form: unknown }
  | { type: 'not'; src: string; join: Var[] | null; clauses: Clause[]; form: unknown }
  | { type: 'or'; src: string; join: OrJoin | null; branches: Clause[][]; form: unknown };

export interface OrJoin {
  required: Var[];
  free: Var[];
}

export type FindElem =
  | { kind: 'var'; v: Var }
  | { kind: 'agg'; fn: string; args: Term[]; form: unknown }
  | { kind: 'pull'; src: string; v: Var; pattern: Term; form: unknown };

export type FindSpec =
  | { kind: 'rel'; elems: FindElem[] }
  | { kind: 'coll'; elem: FindElem }
  | { kind: 'tuple'; elems: FindElem[] }
  | { kind: 'scalar'; elem: FindElem };

export type Input =
  | { kind: 'src'; name: string }
  | { kind: 'rules' }
  | { kind: 'binding'; binding: Binding };

export interface Query {
  find: FindSpec;
  /** :keys / :strs / :syms — names for the columns of each result. */
  keys: string[] | null;
  with: Var[];
  in: Input[];
  where: Clause[];
}

export interface RuleBranch {
  name: string;
  /** Head variables that the caller must bind (`[(r [?a] ?b) ...]`). */
  required: Var[];
  vars: Var[];
  clauses: Clause[];
  form: unknown;
}

/** Rules by name; each name may have several branches (an implicit `or`). */
export type Rules = Map<string, RuleBranch[]>;

function fail(message: string, form: unknown): never {
  let text: string;
  try {
    text = printEdn(form);
  } catch {
    text = String(form);
  }
  throw new DiagonError(
    'query/invalid',
    `${message}: ${text.length > 200 ? `${text.slice(0, 197)}...` : text}`,
    {
      form,
    },
  );
}

const symName = (x: unknown): string | null => (x instanceof Sym ? x.name : null);

function asSeq(x: unknown): readonly unknown[] | null {
  if (Array.isArray(x)) return x;
  if (x instanceof List) return x.items;
  return null;
}

function term(x: unknown): Term {
  const s = symName(x);
  if (s !== null) {
    if (s === '_') return BLANK;
    if (s.startsWith('?')) return Var.of(s);
    if (s.startsWith('$')) return new Src(s);
  }
  return { const: x };
}

function variable(x: unknown, where: unknown): Var {
  const t = term(x);
  if (!(t instanceof Var)) fail('expected a variable', where);
  return t;
}

function varOrBlank(x: unknown, where: unknown): Var | typeof BLANK {
  const t = term(x);
  if (t === BLANK || t instanceof Var) return t;
  return fail('expected a variable or _', where);
}

export function parseBinding(x: unknown): Binding {
  const seq = Array.isArray(x) ? x : null;
  if (seq === null) {
    return { kind: 'scalar', v: varOrBlank(x, x) };
  }
  if (seq.length === 1 && Array.isArray(seq[0])) {
    return { kind: 'rel', vs: seq[0].map((v) => varOrBlank(v, x)) };
  }
  if (seq.length === 2 && symName(seq[1]) === '...') {
    return { kind: 'coll', v: varOrBlank(seq[0], x) };
  }
  if (seq.length === 0) fail('an empty binding form', x);
  return { kind: 'tuple', vs: seq.map((v) => varOrBlank(v, x)) };
}

function srcOf(items: readonly unknown[]): [string, readonly unknown[]] {
  const first = symName(items[0]);
  if (first?.startsWith('$')) return [first, items.slice(1)];
  return ['$', items];
}

function parseOrBranch(x: unknown): Clause[] {
  const seq = x instanceof List ? x.items : null;
  if (seq !== null && symName(seq[0]) === 'and') {
    if (seq.length < 2) fail('(and) needs at least one clause', x);
    return seq.slice(1).map(parseClause);
  }
  return [parseClause(x)];
}

function parseRuleVars(x: unknown, form: unknown): OrJoin {
  const seq = Array.isArray(x) ? x : null;
  if (seq === null || seq.length === 0) fail('rule variables are a non-empty vector', form);
  const required = Array.isArray(seq[0]) ? seq[0].map((v) => variable(v, form)) : [];
  const free = (Array.isArray(seq[0]) ? seq.slice(1) : seq).map((v) => variable(v, form));
  return { required, free };
}

export function parseClause(x: unknown): Clause {
  if (x instanceof List) {
    const [src, items] = srcOf(x.items);
    const head = symName(items[0]);
    switch (head) {
      case 'not':
        if (items.length < 2) fail('(not) needs at least one clause', x);
        return { type: 'not', src, join: null, clauses: items.slice(1).map(parseClause), form: x };
      case 'not-join': {
        const vars = Array.isArray(items[1]) ? items[1].map((v) => variable(v, x)) : null;
        if (vars === null || vars.length === 0)
          fail('(not-join [?vars] ...) needs a vector of variables', x);
        if (items.length < 3) fail('(not-join) needs at least one clause', x);
        return { type: 'not', src, join: vars, clauses: items.slice(2).map(parseClause), form: x };
      }
      case 'or':
        if (items.length < 2) fail('(or) needs at least one branch', x);
        return {
          type: 'or',
          src,
          join: null,
          branches: items.slice(1).map(parseOrBranch),
          form: x,
        };
      case 'or-join': {
        if (items.length < 3) fail('(or-join [?vars] ...) needs variables and a branch', x);
        const join = parseRuleVars(items[1], x);
        return { type: 'or', src, join, branches: items.slice(2).map(parseOrBranch), form: x };
      }
      case 'and':
        return fail('(and ...) is only allowed inside (or ...)', x);
      case null:
        return fail('a rule call starts with the rule name', x);
      default:
        if (items.length < 2) fail(`rule call (${head}) needs arguments`, x);
        return { type: 'rule', src, name: head, args: items.slice(1).map(term), form: x };
    }
  }
  if (!Array.isArray(x) || x.length === 0) {
    return fail(
      'a clause is a data pattern [e a v], a predicate [(f ...)], a function [(f ...) ?x] or a list form',
      x,
    );
  }
  if (x[0] instanceof List) {
    const call = x[0].items;
    const fn = symName(call[0]);
    if (fn === null) fail('a function or predicate call starts with a symbol', x);
    const args = call.slice(1).map(term);
    if (x.length === 1) return { type: 'pred', fn, args, form: x };
    if (x.length === 2) return { type: 'fn', fn, args, binding: parseBinding(x[1]), form: x };
    return fail('a function clause is [(f args) binding]', x);
  }
  const [src, items] = srcOf(x);
  if (items.length === 0 || items.length > 5)
    fail('a data pattern has 1 to 5 elements after the source', x);
  return { type: 'pattern', src, terms: items.map(term), form: x };
}

function parseFindElem(x: unknown): FindElem {
  if (x instanceof List) {
    const head = symName(x.items[0]);
    if (head === 'pull') {
      const rest = x.items.slice(1);
      const [src, args] = symName(rest[0])?.startsWith('$')
        ? [symName(rest[0])!, rest.slice(1)]
        : ['$', rest];
      if (args.length !== 2) fail('(pull ?e pattern) takes a variable and a pattern', x);
      const pattern = term(args[1]);
      return { kind: 'pull', src, v: variable(args[0], x), pattern, form: x };
    }
    if (head === null) fail('an aggregate starts with its name', x);
    if (x.items.length < 2) fail(`aggregate (${head}) needs an argument`, x);
    const args = x.items.slice(1).map(term);
    if (!args.some((a) => a instanceof Var)) fail(`aggregate (${head}) needs a variable`, x);
    return { kind: 'agg', fn: head, args, form: x };
  }
  return { kind: 'var', v: variable(x, x) };
}

function parseFind(items: unknown[], form: unknown): FindSpec {
  if (items.length === 0) fail(':find needs at least one element', form);
  if (items.length === 2 && symName(items[1]) === '.') {
    return { kind: 'scalar', elem: parseFindElem(items[0]) };
  }
  if (items.length === 1 && Array.isArray(items[0])) {
    const inner = items[0];
    if (inner.length === 2 && symName(inner[1]) === '...')
      return { kind: 'coll', elem: parseFindElem(inner[0]) };
    if (inner.length === 0) fail(':find [] needs elements', form);
    return { kind: 'tuple', elems: inner.map(parseFindElem) };
  }
  return { kind: 'rel', elems: items.map(parseFindElem) };
}

function parseInput(x: unknown): Input {
  const s = symName(x);
  if (s === '%') return { kind: 'rules' };
  if (s?.startsWith('$')) return { kind: 'src', name: s };
  return { kind: 'binding', binding: parseBinding(x) };
}

const SECTIONS = new Set(['find', 'keys', 'strs', 'syms', 'with', 'in', 'where']);

/** The query's sections, from the vector form or the map form. */
function sections(form: unknown): Map<string, unknown[]> {
  const out = new Map<string, unknown[]>();
  if (form instanceof Map) {
    for (const [k, v] of form) {
      const name = k instanceof Keyword ? k.fqn : null;
      const items = asSeq(v);
      if (name === null || !SECTIONS.has(name) || items === null)
        fail('unknown or malformed query section', k);
      out.set(name, [...items]);
    }
    return out;
  }
  const seq = asSeq(form);
  if (seq === null) fail('a query is a vector [:find ... :where ...] or a map', form);
  let current: unknown[] | null = null;
  for (const x of seq) {
    if (x instanceof Keyword) {
      if (!SECTIONS.has(x.fqn)) fail(`unknown query section :${x.fqn}`, form);
      if (out.has(x.fqn)) fail(`section :${x.fqn} appears twice`, form);
      current = [];
      out.set(x.fqn, current);
    } else if (current === null) fail('a query starts with :find', form);
    else current.push(x);
  }
  return out;
}

/** Variables a clause uses (not counting rule/or/not internals beyond their joins). */
export function clauseVars(c: Clause): Set<Var> {
  const out = new Set<Var>();
  const add = (t: unknown) => {
    if (t instanceof Var) out.add(t);
  };
  switch (c.type) {
    case 'pattern':
    case 'rule':
      (c.type === 'pattern' ? c.terms : c.args).forEach(add);
      break;
    case 'pred':
      c.args.forEach(add);
      break;
    case 'fn':
      c.args.forEach(add);
      for (const v of bindingVars(c.binding)) out.add(v);
      break;
    case 'not':
      if (c.join !== null) c.join.forEach(add);
      else for (const inner of c.clauses) for (const v of clauseVars(inner)) out.add(v);
      break;
    case 'or':
      if (c.join !== null) [...c.join.required, ...c.join.free].forEach(add);
      else
        for (const branch of c.branches)
          for (const inner of branch) for (const v of clauseVars(inner)) out.add(v);
      break;
  }
  return out;
}

/** Variables clauses can bind (everything but what only predicates and `not` mention). */
export function bindableVars(clauses: readonly Clause[]): Set<Var> {
  const out = new Set<Var>();
  for (const c of clauses) {
    if (c.type === 'not' || c.type === 'pred') continue;
    for (const v of clauseVars(c)) out.add(v);
  }
  return out;
}

export function bindingVars(b: Binding): Var[] {
  const vs = b.kind === 'scalar' || b.kind === 'coll' ? [b.v] : b.vs;
  return vs.filter((v): v is Var => v instanceof Var);
}

function checkOr(c: Extract<Clause, { type: 'or' }>): void {
  if (c.join !== null) return;
  // A plain (or ...) joins on every variable, so every branch must use the same ones.
  const sets = c.branches.map((b) => {
    const vs = new Set<string>();
    for (const inner of b) for (const v of clauseVars(inner)) vs.add(v.name);
    return [...vs].sort().join(' ');
  });
  if (sets.some((s) => s !== sets[0])) {
    fail(
      'all branches of (or ...) must use the same variables; use (or-join [?vars] ...) otherwise',
      c.form,
    );
  }
}

function checkClauses(clauses: Clause[]): void {
  for (const c of clauses) {
    if (c.type === 'or') {
      checkOr(c);
      for (const b of c.branches) checkClauses(b);
    } else if (c.type === 'not') {
      if (c.join === null && clauseVars(c).size === 0) {
        fail('(not ...) must share a variable with the rest of the query', c.form);
      }
      checkClauses(c.clauses);
    }
  }
}

const cache = new Map<string, Query>();
const CACHE_LIMIT = 1000;

/** Parses a query (EDN text or its parsed form). Text queries are cached. */
export function parseQuery(query: unknown): Query {
  const text = typeof query === 'string' ? query : null;
  if (text !== null) {
    const hit = cache.get(text);
    if (hit !== undefined) return hit;
  }
  const form = text !== null ? parseEdn(text) : query;
  const s = sections(form);
  const find = s.get('find');
  if (find === undefined) fail('a query needs :find', form);
  const keyKind = ['keys', 'strs', 'syms'].filter((k) => s.has(k));
  if (keyKind.length > 1) fail('use only one of :keys, :strs, :syms', form);
  const keys =
    keyKind.length === 1
      ? s.get(keyKind[0]!)!.map((k) => (k instanceof Keyword ? k.fqn : (symName(k) ?? String(k))))
      : null;
  const parsed: Query = {
    find: parseFind(find, form),
    keys,
    with: (s.get('with') ?? []).map((v) => variable(v, form)),
    in: (s.get('in') ?? [Sym.of('$')]).map(parseInput),
    where: (s.get('where') ?? []).map(parseClause),
  };
  if (keys !== null) {
    const n =
      parsed.find.kind === 'rel' || parsed.find.kind === 'tuple' ? parsed.find.elems.length : 1;
    if (n !== keys.length) fail(`${keys.length} names for ${n} find elements`, form);
  }
  checkClauses(parsed.where);
  if (text !== null) {
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
    cache.set(text, parsed);
  }
  return parsed;
}

const ruleCache = new Map<string, Rules>();

/** Parses rules: `[[(name ?a ?b) clause+] ...]`, as EDN text or parsed. */
export function parseRules(rules: unknown): Rules {
  const text = typeof rules === 'string' ? rules : null;
  if (text !== null && ruleCache.has(text)) return ruleCache.get(text)!;
  const form = text !== null ? parseEdn(text) : rules;
  const seq = asSeq(form);
  if (seq === null) fail('rules are a vector of [(head ?vars) clause+]', form);
  const out: Rules = new Map();
  for (const r of seq) {
    const items = asSeq(r);
    const head = items?.[0];
    if (items === null || !(head instanceof List) || items.length < 2) {
      fail('a rule is [(name ?vars) clause+]', r);
    }
    const name = symName(head.items[0]);
    if (name === null) fail('a rule head starts with the rule name', r);
    const vars = parseRuleVars(head.items.slice(1), r);
    const all = [...vars.required, ...vars.free];
    if (new Set(all).size !== all.length) fail('a rule head names a variable twice', r);
    const branch: RuleBranch = {
      name,
      required: vars.required,
      vars: all,
      clauses: items.slice(1).map(parseClause),
      form: r,
    };
    checkClauses(branch.clauses);
    const branches = out.get(name) ?? [];
    if (branches.length > 0 && branches[0]!.vars.length !== all.length) {
      fail(`rule ${name} has branches of different arity`, r);
    }
    branches.push(branch);
    out.set(name, branches);
  }
  if (text !== null) ruleCache.set(text, out);
  return out;
}

/** Prints a clause (or any form) back as EDN, for errors and explain. */
export function formText(form: unknown): string {
  try {
    return printEdn(form);
  } catch {
    return String(form);
  }
}
