/**
 * Rules, evaluated bottom-up.
 *
 * A call is "adorned" by which arguments it gets bound (b) or free (f). For bound
 * arguments the rules are rewritten with magic sets: each adorned rule body starts with a
 * magic relation that holds the argument values asked for, and each rule call inside a
 * body adds what it is asked to the magic relation of the rule it calls. The rewritten
 * program then runs semi-naively (each round joins only the tuples new in the last round)
 * until nothing new appears, so recursive and mutually recursive rules — linear or not —
 * terminate, and a call with bound arguments derives only what it needs. A call with no
 * bound argument is plain bottom-up evaluation.
 *
 * `or` in a rule body that reaches another rule becomes an auxiliary rule, so recursion
 * through `or` is ordinary recursion. Negation is stratified: a rule may not depend on
 * itself through `not`.
 */
import { DiagonError } from '../errors.js';
import {
  bindableVars,
  type Clause,
  clauseVars,
  formText,
  isConst,
  type RuleBranch,
  type Rules,
  type Term,
  Var,
} from './parse.js';
import { join, Relation, RowSet } from './relation.js';
import {
  type DerivedClause,
  type Env,
  matchTuples,
  type RuleCaller,
  Solver,
  type SolverClause,
} from './solve.js';

type RuleClause = Extract<Clause, { type: 'rule' }>;

/** A rule of the rewritten program: `head(vars) :- body`. */
interface Compiled {
  head: string;
  vars: Var[];
  body: (Clause | DerivedAtom)[];
}

/** A call to a derived relation (an adorned rule or a magic relation) inside a body. */
interface DerivedAtom {
  type: 'atom';
  pred: string;
  args: Term[];
  form: unknown;
}

interface Program {
  rules: Compiled[];
  /** Arity of each derived relation. */
  arity: Map<string, number>;
}

const magicKey = (pred: string) => `magic:${pred}`;
const predKey = (name: string, mask: string) => `${name}/${mask}`;

function unknownRule(c: RuleClause, rules: Rules): DiagonError {
  const known = [...rules.keys()].filter((k) => !k.startsWith('__'));
  return new DiagonError(
    'query/unknown-rule',
    `unknown rule ${c.name} in ${formText(c.form)}${known.length > 0 ? `; the rules are ${known.join(', ')}` : ''}`,
    { clause: c.form },
  );
}

/** Whether a clause (or anything inside it, not counting `not`) calls a rule. */
function callsRule(c: Clause): boolean {
  if (c.type === 'rule') return true;
  if (c.type === 'or') return c.branches.some((b) => b.some(callsRule));
  return false;
}

let auxCounter = 0;

/**
 * Rewrites every `or` that reaches a rule (in the query or in rule bodies) into a call of
 * an auxiliary rule whose branches are the `or`'s branches.
 */
export function liftOrs(where: Clause[], rules: Rules): { clauses: Clause[]; rules: Rules } {
  const needs = (cs: Clause[]): boolean =>
    cs.some((c) => (c.type === 'or' && callsRule(c)) || (c.type === 'not' && needs(c.clauses)));
  if (!needs(where) && ![...rules.values()].some((bs) => bs.some((b) => needs(b.clauses)))) {
    return { clauses: where, rules };
  }
  const out: Rules = new Map(rules);
  const lift = (cs: Clause[]): Clause[] =>
    cs.map((c): Clause => {
      if (c.type === 'not') return { ...c, clauses: lift(c.clauses) };
      if (c.type !== 'or' || !callsRule(c)) return c;
      const vars = c.join !== null ? [...c.join.required, ...c.join.free] : [...clauseVars(c)];
      const name = `__or${++auxCounter}`;
      const required = c.join?.required ?? [];
      out.set(
        name,
        c.branches.map((b) => ({ name, required, vars, clauses: lift(b), form: c.form })),
      );
      return { type: 'rule', src: c.src, name, args: vars, form: c.form };
    });
  for (const [name, branches] of rules)
    out.set(
      name,
      branches.map((b) => ({ ...b, clauses: lift(b.clauses) })),
    );
  return { clauses: lift(where), rules: out };
}

/** The rules each rule calls, positively and through `not`. */
function dependencies(rules: Rules): Map<string, { pos: Set<string>; neg: Set<string> }> {
  const deps = new Map<string, { pos: Set<string>; neg: Set<string> }>();
  const walk = (cs: Clause[], d: { pos: Set<string>; neg: Set<string> }, negated: boolean) => {
    for (const c of cs) {
      if (c.type === 'rule') (negated ? d.neg : d.pos).add(c.name);
      else if (c.type === 'not') walk(c.clauses, d, true);
      else if (c.type === 'or') for (const b of c.branches) walk(b, d, negated);
    }
  };
  for (const [name, branches] of rules) {
    const d = { pos: new Set<string>(), neg: new Set<string>() };
    for (const b of branches) walk(b.clauses, d, false);
    deps.set(name, d);
  }
  return deps;
}

/** Refuses recursion through `not`: the rules would have no single meaning. */
function checkStratified(rules: Rules): void {
  const deps = dependencies(rules);
  const reaches = (from: string, to: string): boolean => {
    const seen = new Set<string>();
    const stack = [from];
    while (stack.length > 0) {
      const r = stack.pop()!;
      if (r === to) return true;
      if (seen.has(r)) continue;
      seen.add(r);
      const d = deps.get(r);
      if (d !== undefined) stack.push(...d.pos, ...d.neg);
    }
    return false;
  };
  for (const [name, d] of deps) {
    for (const n of d.neg) {
      if (reaches(n, name)) {
        throw new DiagonError(
          'query/unstratified',
          `rule ${name} depends on itself through (not ...) via ${n}; such rules have no single answer`,
          { rule: name },
        );
      }
    }
  }
}

/** The variables a clause binds when it succeeds (for adornments). */
function binds(c: Clause): Var[] {
  switch (c.type) {
    case 'not':
    case 'pred':
      return [];
    case 'or':
      return c.join !== null ? [...c.join.required, ...c.join.free] : [...clauseVars(c)];
    default:
      return [...clauseVars(c)];
  }
}

function compile(rules: Rules, name: string, mask: string): Program {
  const program: Program = { rules: [], arity: new Map() };
  const queue: [string, string][] = [[name, mask]];
  const done = new Set<string>();
  while (queue.length > 0) {
    const [n, m] = queue.shift()!;
    const key = predKey(n, m);
    if (done.has(key)) continue;
    done.add(key);
    const branches = rules.get(n)!;
    program.arity.set(key, m.length);
    if (m.includes('b')) program.arity.set(magicKey(key), [...m].filter((x) => x === 'b').length);
    for (const branch of branches) compileBranch(rules, branch, key, m, program, queue);
  }
  return program;
}

function compileBranch(
  rules: Rules,
  branch: RuleBranch,
  key: string,
  mask: string,
  program: Program,
  queue: [string, string][],
): void {
  const boundHead = branch.vars.filter((_, i) => mask[i] === 'b');
  const bindable = bindableVars(branch.clauses);
  const unsafe = branch.vars.filter((v) => !bindable.has(v) && !boundHead.includes(v));
  if (unsafe.length > 0) {
    throw new DiagonError(
      'query/insufficient-bindings',
      `${unsafe.join(', ')} in the head of ${formText(branch.form)} ${unsafe.length === 1 ? 'is' : 'are'} bound by no clause of its body; bind ${unsafe.length === 1 ? 'it' : 'them'} in the call or in the body`,
      { rule: branch.name },
    );
  }
  const bound = new Set<Var>(boundHead);
  const body: (Clause | DerivedAtom)[] = [];
  if (boundHead.length > 0)
    body.push({ type: 'atom', pred: magicKey(key), args: boundHead, form: branch.form });
  // A call with nothing bound derives everything: it passes no bindings down either.
  const propagate = mask.includes('b');
  for (const c of branch.clauses) {
    if (c.type !== 'rule') {
      body.push(c);
      for (const v of binds(c)) bound.add(v);
      continue;
    }
    const callee = rules.get(c.name);
    if (callee === undefined) throw unknownRule(c, rules);
    if (callee[0]!.vars.length !== c.args.length) {
      throw new DiagonError(
        'query/rule-arity',
        `rule ${c.name} takes ${callee[0]!.vars.length} arguments, ${formText(c.form)} gives ${c.args.length}`,
        { clause: c.form },
      );
    }
    const sub = c.args
      .map((t) => (isConst(t) || (propagate && t instanceof Var && bound.has(t)) ? 'b' : 'f'))
      .join('');
    checkRequired(callee, sub, c);
    const subKey = predKey(c.name, sub);
    if (sub.includes('b')) {
      // magic(callee)(bound args) :- the body so far.
      const args = c.args.filter((_, i) => sub[i] === 'b');
      program.rules.push({
        head: magicKey(subKey),
        vars: args.map((t, i) => (t instanceof Var ? t : Var.of(`?__const${i}`))),
        body: [...body, ...constBindings(args)],
      });
    }
    body.push({ type: 'atom', pred: subKey, args: c.args, form: c.form });
    for (const t of c.args) if (t instanceof Var) bound.add(t);
    queue.push([c.name, sub]);
  }
  program.rules.push({ head: key, vars: branch.vars, body });
}

/** A magic rule's head may hold constants: bind them with (ground c) clauses. */
function constBindings(args: Term[]): Clause[] {
  return args.flatMap((t, i) =>
    isConst(t)
      ? [
          {
            type: 'fn' as const,
            fn: 'ground',
            args: [t],
            binding: { kind: 'scalar' as const, v: Var.of(`?__const${i}`) },
            form: t.const,
          },
        ]
      : [],
  );
}

function checkRequired(branches: RuleBranch[], mask: string, c: RuleClause): void {
  for (const b of branches) {
    const missing = b.required.filter((v) => mask[b.vars.indexOf(v)] !== 'b');
    if (missing.length > 0) {
      throw new DiagonError(
        'query/insufficient-bindings',
        `rule ${c.name} needs ${missing.join(', ')} bound, ${formText(c.form)} leaves ${missing.length === 1 ? 'it' : 'them'} unbound`,
        { clause: c.form },
      );
    }
  }
}

/** Derived relations during evaluation: everything so far, and what the last round added. */
class Store {
  readonly full = new Map<string, { rows: unknown[][]; keys: RowSet }>();
  delta = new Map<string, unknown[][]>();

  constructor(arity: Map<string, number>) {
    for (const [k, width] of arity) this.full.set(k, { rows: [], keys: new RowSet(width) });
  }

  /** Adds rows; returns those that were new. */
  add(pred: string, rows: unknown[][]): unknown[][] {
    const f = this.full.get(pred)!;
    const fresh: unknown[][] = [];
    for (const r of rows) {
      if (f.keys.add(r)) {
        f.rows.push(r);
        fresh.push(r);
      }
    }
    return fresh;
  }
}

function evalBody(rule: Compiled, store: Store, deltaAt: number, env: Env): unknown[][] {
  const clauses: SolverClause[] = rule.body.map((c, i) => {
    if (c.type !== 'atom') return c;
    const rows = i === deltaAt ? (store.delta.get(c.pred) ?? []) : store.full.get(c.pred)!.rows;
    const derived: DerivedClause = {
      type: 'derived',
      name: c.pred,
      args: c.args,
      rows: () => rows,
      form: c.form,
    };
    return derived;
  });
  const solver = new Solver(env, [Relation.unit()]);
  solver.solve(clauses);
  // The store removes duplicates as it adds: take the head's rows as they come.
  return solver.isEmpty ? [] : solver.rows(rule.vars);
}

/** Runs the program to a fixpoint, semi-naively. */
function fixpoint(program: Program, store: Store, env: Env): void {
  const atomsOf = (r: Compiled) =>
    r.body.map((c, i) => (c.type === 'atom' ? i : -1)).filter((i) => i >= 0);
  // Round 0: every rule over everything known (only seeds and base facts so far).
  const next = new Map<string, unknown[][]>();
  const collect = (head: string, rows: unknown[][]) => {
    const fresh = store.add(head, rows);
    if (fresh.length > 0) next.set(head, [...(next.get(head) ?? []), ...fresh]);
  };
  for (const r of program.rules) collect(r.head, evalBody(r, store, -1, env));
  for (const [k, rows] of next) store.delta.set(k, [...(store.delta.get(k) ?? []), ...rows]);
  for (;;) {
    if ([...store.delta.values()].every((d) => d.length === 0)) return;
    next.clear();
    for (const r of program.rules) {
      for (const i of atomsOf(r)) {
        const pred = (r.body[i] as DerivedAtom).pred;
        if ((store.delta.get(pred)?.length ?? 0) === 0) continue;
        collect(r.head, evalBody(r, store, i, env));
      }
    }
    store.delta = new Map(next);
  }
}

const programs = new WeakMap<Rules, Map<string, Program>>();

/** Evaluates rule calls for a query. */
export class RuleEngine implements RuleCaller {
  constructor(private readonly rules: Rules) {
    checkStratified(rules);
  }

  private program(name: string, mask: string): Program {
    let byMask = programs.get(this.rules);
    if (byMask === undefined) programs.set(this.rules, (byMask = new Map()));
    const key = predKey(name, mask);
    let p = byMask.get(key);
    if (p === undefined) byMask.set(key, (p = compile(this.rules, name, mask)));
    return p;
  }

  requiredArgs(name: string): number[] {
    const b = this.rules.get(name)?.[0];
    return b === undefined ? [] : b.required.map((v) => b.vars.indexOf(v));
  }

  call(c: RuleClause, bound: Var[], seed: Relation | null, env: Env): Relation {
    const branches = this.rules.get(c.name);
    if (branches === undefined) throw unknownRule(c, this.rules);
    const arity = branches[0]!.vars.length;
    if (arity !== c.args.length) {
      throw new DiagonError(
        'query/rule-arity',
        `rule ${c.name} takes ${arity} arguments, ${formText(c.form)} gives ${c.args.length}`,
        {
          clause: c.form,
        },
      );
    }
    const mask = c.args
      .map((t) => (isConst(t) || (t instanceof Var && bound.includes(t)) ? 'b' : 'f'))
      .join('');
    checkRequired(branches, mask, c);
    const program = this.program(c.name, mask);
    const store = new Store(program.arity);
    const key = predKey(c.name, mask);
    // Seed the magic relation with the bound arguments asked for.
    const boundArgs = c.args.filter((_, i) => mask[i] === 'b');
    const seedRows = (seed ?? Relation.unit()).rows.map((row) =>
      boundArgs.map((t) =>
        t instanceof Var ? row[seed!.col(t)] : isConst(t) ? t.const : undefined,
      ),
    );
    if (mask.includes('b')) store.delta.set(magicKey(key), store.add(magicKey(key), seedRows));
    fixpoint(program, store, env);
    const result = matchTuples(store.full.get(key)!.rows, c.args, new Map(), true);
    const rel = new Relation(result.vars, result.rows);
    // Magic sets may derive answers for more than was asked: keep those asked.
    return seed === null ? rel : join(seed, rel);
  }
}
