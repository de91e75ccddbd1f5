/**
 * What a query evaluation runs in: its sources, its rules, the trace explain reads, and
 * the clause kinds the solver accepts beyond the parsed ones.
 */
import type { Db } from '../db.js';
import type { Clause, Term, Var } from './parse.js';
import type { Relation } from './relation.js';

export type Source = Db | readonly (readonly unknown[])[];

/** A clause over tuples computed elsewhere (a rule's derived relation), matched by position. */
export interface DerivedClause {
  type: 'derived';
  name: string;
  args: Term[];
  rows: () => readonly (readonly unknown[])[];
  form: unknown;
}

export type SolverClause = Clause | DerivedClause;

export interface RuleCaller {
  /** Argument positions a rule requires bound (`(rule [?x] ?y)`); empty for an unknown rule. */
  requiredArgs(name: string): number[];
  /**
   * Rows of a rule call: one column per distinct variable argument, constants matched.
   * `seed` holds the distinct values of the bound variable arguments (null: none bound).
   */
  call(
    clause: Extract<Clause, { type: 'rule' }>,
    bound: Var[],
    seed: Relation | null,
    env: Env,
  ): Relation;
}

export interface ExplainStep {
  clause: string;
  op: string;
  index?: string;
  estimated: number;
  actual: number;
}

export interface Env {
  sources: Map<string, Source>;
  rules: RuleCaller | null;
  trace: ExplainStep[] | null;
  /** Selectivities sampled for this query, by pattern and test. */
  estimates: Map<string, number>;
}
