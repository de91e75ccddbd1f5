/**
 * Errors of the HTTP API as RFC 9457 problem details (`application/problem+json`):
 * `{type: 'https://diagon.dev/problems/<code>', title, status, detail, code}`. A route
 * throws an `HttpProblem` for what it decides itself; a `DiagonError` from a NATS reply or a
 * library keeps its code and gets the status its code stands for (`statusOf`).
 */
import { STATUS_CODES } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import { PROBLEM_TYPE_BASE, type Problem } from '../../libs/client/http-api.js';
import { isDiagonError } from '../../libs/db/errors.js';

export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }
}

/**
 * Exact codes whose status the rules below would get wrong. Relayed errors lose their
 * `bus/` prefix (relay.ts), so both spellings are here.
 */
const BY_CODE: Record<string, number> = {
  'bus/closed': 503,
  closed: 503,
  'bus/malformed': 400,
  malformed: 400,
  'bus/bad-subject': 400,
  'identity/bad-session': 401,
  'identity/session-expired': 401,
  'tx/conflict': 409,
  internal: 500,
};

/** The last part of a code (`consensus/no-proposal` → `no-proposal`) decides the rest. */
const BY_NAME: [RegExp, number][] = [
  [/^(timeout)$/, 504],
  [/^(no-responders|unavailable|unreachable|standby|fenced|failed|stream)$/, 503],
  [/^(rate-limited)$/, 429],
  [/^(no-pool|no-such-pool|no-proposal|not-found)$/, 404],
  [
    /^(not-member|not-a-member|not-a-voter|wrong-sender|low-trust|self-vote|observer|forbidden|wrong-session-pool|pool-create-disabled)$/,
    403,
  ],
  [/^(duplicate-vote|duplicate-proposal|closed|expired|pool-exists|conflict)$/, 409],
];

/** Families whose every other code is about the request. */
const INPUT_FAMILIES =
  /^(query|edn|db\.error|governance|canonical|consensus|identity|storage|auth)\//;

/** The HTTP status of an error code (500 for a code nobody mapped). */
export function statusOf(code: string): number {
  const exact = BY_CODE[code];
  if (exact !== undefined) return exact;
  const name = code.slice(code.lastIndexOf('/') + 1);
  for (const [re, status] of BY_NAME) if (re.test(name)) return status;
  return INPUT_FAMILIES.test(code) || name.startsWith('bad-') ? 400 : 500;
}

export function problem(status: number, code: string, detail: string): Problem {
  return {
    type: `${PROBLEM_TYPE_BASE}${code}`,
    title: STATUS_CODES[status] ?? 'Error',
    status,
    detail,
    code,
  };
}

export function sendProblem(
  res: Response,
  status: number,
  code: string,
  detail: string,
  headers: Record<string, string> = {},
): void {
  res
    .status(status)
    .set(headers)
    .type('application/problem+json')
    .send(JSON.stringify(problem(status, code, detail)));
}

/** body-parser's error types, for a malformed, too large or undecodable body. */
const BODY_ERRORS: Record<string, [number, string]> = {
  'entity.parse.failed': [400, 'bad-json'],
  'entity.too.large': [413, 'too-large'],
  'entity.verify.failed': [400, 'bad-request'],
  'request.aborted': [400, 'bad-request'],
  'request.size.invalid': [400, 'bad-request'],
  'encoding.unsupported': [415, 'unsupported-media-type'],
  'charset.unsupported': [415, 'unsupported-media-type'],
};

export interface ProblemLog {
  warn(o: object, msg: string): void;
}

/** The last middleware: every error becomes a problem; an unexpected one is logged, not shown. */
export function problemHandler(log: ProblemLog) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    if (res.headersSent) {
      res.end();
      return;
    }
    if (err instanceof HttpProblem) {
      sendProblem(res, err.status, err.code, err.message, err.headers);
      return;
    }
    if (isDiagonError(err)) {
      const status = statusOf(err.code);
      if (status === 500) log.warn({ code: err.code, err: err.message, path: req.path }, 'failed');
      const detail =
        status === 500 ? 'internal error; the service log has the details' : err.message;
      sendProblem(res, status, err.code, detail);
      return;
    }
    const type = (err as { type?: unknown }).type;
    const known = typeof type === 'string' ? BODY_ERRORS[type] : undefined;
    if (known !== undefined) {
      const [status, code] = known;
      sendProblem(res, status, code, `the request body was refused: ${(err as Error).message}`);
      return;
    }
    log.warn({ err: String(err), path: req.path }, 'request failed');
    sendProblem(res, 500, 'internal', 'internal error; the service log has the details');
  };
}
