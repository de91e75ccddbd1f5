/**
 * Service configuration from environment variables: each variable has a default, a line
 * of help and a zod schema. `loadEnv` validates them all at once and throws one
 * `config/invalid` error listing every bad variable; `envHelp` prints the table for
 * `--help`.
 */
import { z } from 'zod';
import { DiagonError } from '../db/errors.js';

export const POSTGRES_URL = z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL');
export const SCHEMA_NAME = z
  .string()
  .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a plain schema name (lowercase, digits, _)');

/** A whole number in [min, max], from its text. */
export const envInt = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** One variable of a spec. */
export const envVar = <T>(dflt: string, help: string, schema: z.ZodType<T>, required = false) => ({
  default: dflt,
  help,
  schema,
  required,
});

export interface EnvVar<T> {
  /** The default ('' for none; a required variable has `required: true`). */
  default: string;
  help: string;
  schema: z.ZodType<T>;
  required?: boolean;
}

export type EnvSpec = Record<string, EnvVar<unknown>>;
export type EnvValues<S extends EnvSpec> = {
  [K in keyof S]: S[K] extends EnvVar<infer T> ? T : never;
};

export function loadEnv<S extends EnvSpec>(
  service: string,
  spec: S,
  env: Record<string, string | undefined> = process.env,
): EnvValues<S> {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, v] of Object.entries(spec)) {
    const given = env[name];
    const raw = given === undefined || given === '' ? v.default : given;
    if (v.required && raw === '') {
      problems.push(`  ${name}: required (${v.help})`);
      continue;
    }
    const r = v.schema.safeParse(raw);
    if (r.success) out[name] = r.data;
    else
      problems.push(
        `  ${name}=${JSON.stringify(raw)}: ${r.error.issues.map((i) => i.message).join('; ')}`,
      );
  }
  if (problems.length > 0)
    throw new DiagonError(
      'config/invalid',
      `${service}: invalid configuration; fix these environment variables:\n${problems.join('\n')}`,
      { problems },
    );
  return out as EnvValues<S>;
}

export function envHelp(title: string, usage: string, spec: EnvSpec): string {
  const width = Math.max(...Object.keys(spec).map((k) => k.length));
  const rows = Object.entries(spec).map(
    ([k, v]) =>
      `  ${k.padEnd(width)}  ${v.help}${v.required ? ' (required)' : v.default === '' ? '' : ` (default ${v.default})`}`,
  );
  return [title, '', `Usage: ${usage}`, '', 'Configured by environment variables:', ...rows].join(
    '\n',
  );
}
