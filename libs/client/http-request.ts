/**
 * One exchange with the edge: a deadline on every call, a connection refused turned into
 * an error that names the URL and says to start the cluster, and an error answer (RFC 9457
 * problem details) turned into a `DiagonError` with the problem's code and detail.
 */
import { DiagonError } from '../db/errors.js';
import { messageHeaders } from '../telemetry/index.js';

export interface HttpOptions {
  /** The edge, e.g. `http://127.0.0.1:7421`. */
  url: string;
  /** Deadline of every call in ms (default 10 000). */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export type Method = 'GET' | 'POST';

export const DEFAULT_TIMEOUT_MS = 10_000;

/** A call and its JSON answer. */
export async function send(o: HttpOptions, method: Method, path: string, body?: unknown) {
  return answer(await request(o, method, path, body));
}

/** One HTTP exchange within the deadline (or until `signal`, for streams). */
export async function request(
  o: HttpOptions,
  method: Method,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<Response> {
  const url = `${baseUrl(o.url)}${path}`;
  const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  // The caller's trace context (if any) goes along, so the edge's spans join its trace.
  const h: Record<string, string> = { accept: 'application/json', ...messageHeaders(), ...headers };
  if (body !== undefined) h['content-type'] = 'application/json';
  try {
    return await (o.fetch ?? fetch)(url, {
      method,
      headers: h,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: signal ?? AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    if (err.name === 'TimeoutError')
      throw new DiagonError(
        'client/timeout',
        `${method} ${url} got no answer within ${timeoutMs} ms`,
      );
    if (err.name === 'AbortError') throw e;
    const why = err.cause?.code ?? err.cause?.message ?? err.message;
    throw new DiagonError(
      'client/unreachable',
      `cannot reach Diagon at ${baseUrl(o.url)}: ${why}; is the cluster up? Start it with \`diagon up\`.`,
      { url },
    );
  }
}

/** The JSON of a 2xx answer; a DiagonError with the problem's code and detail otherwise. */
export async function answer(res: Response): Promise<unknown> {
  if (!res.ok) throw await failure(res);
  return res.json();
}

export async function failure(res: Response): Promise<DiagonError> {
  const text = await res.text().catch(() => '');
  let p: { code?: unknown; detail?: unknown; type?: unknown } = {};
  try {
    p = JSON.parse(text) as typeof p;
  } catch {}
  if (typeof p.code === 'string')
    return new DiagonError(p.code, typeof p.detail === 'string' ? p.detail : res.statusText, {
      status: res.status,
      type: p.type,
    });
  return new DiagonError(
    `http/${res.status}`,
    `${res.url} answered ${res.status} ${res.statusText}${text ? `: ${text.slice(0, 200)}` : ''}`,
    { status: res.status },
  );
}

/** An answer that trying again will not change (4xx other than 429). */
export function refused(e: unknown): boolean {
  const status = e instanceof DiagonError ? e.data.status : undefined;
  return typeof status === 'number' && status >= 400 && status < 500 && status !== 429;
}

export const baseUrl = (url: string) => url.replace(/\/+$/, '');

export function queryString(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}
