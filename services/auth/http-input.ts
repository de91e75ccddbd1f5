/**
 * Request bodies and query strings read at the edge with zod: what does not fit is a 400
 * problem naming each bad field, so nothing malformed goes further.
 */
import { base64urlnopad } from '@scure/base';
import type { Request } from 'express';
import { z } from 'zod';
import { SIGNATURE_BYTES } from '../../libs/identity/index.js';
import { HttpProblem } from './problem.js';

/** Listing every problem would let hostile input make the answer huge. */
const MAX_ISSUES = 5;

/** `x` as `schema` reads it, or a 400 problem naming each bad field under `where`. */
export function check<T>(schema: z.ZodType<T>, x: unknown, where: string): T {
  const r = schema.safeParse(x);
  if (r.success) return r.data;
  const why = r.error.issues
    .slice(0, MAX_ISSUES)
    .map((i) => `${[where, ...i.path].join('.')}: ${i.message}`)
    .join('; ');
  throw new HttpProblem(400, 'bad-request', why);
}

/** The JSON body as `schema` reads it; 415 for a body that is not JSON. */
export function readBody<T>(schema: z.ZodType<T>, req: Request): T {
  // `is` is false for a body of another type, null for no body at all (then: 400 below).
  if (req.body === undefined && req.is('application/json') === false)
    throw new HttpProblem(
      415,
      'unsupported-media-type',
      `the body must be application/json, not ${req.headers['content-type']}`,
    );
  return check(schema, req.body, 'body');
}

/** The query string as `schema` reads it (values are text: use `queryInt`). */
export function readQuery<T>(schema: z.ZodType<T>, req: Request): T {
  return check(schema, req.query, 'query');
}

/** Bytes as base64url (padding tolerated). */
export const base64url = (maxChars = 4096) =>
  z
    .string()
    .max(maxChars)
    .transform((s, ctx) => {
      try {
        return base64urlnopad.decode(s.replace(/=+$/, ''));
      } catch {
        ctx.addIssue({ code: 'custom', message: 'not base64url' });
        return z.NEVER;
      }
    });

/** An ed25519 signature as base64url. */
export const signature = base64url(128).refine(
  (b) => b.length === SIGNATURE_BYTES,
  `expected ${SIGNATURE_BYTES} bytes`,
);

/** A basis t or a count: a whole number ≥ 0. */
export const whole = z.int().min(0);

/** A whole number ≥ 0 given as query-string text. */
export const queryInt = z
  .string()
  .regex(/^\d{1,15}$/, 'expected a whole number')
  .transform(Number);
