/**
 * Reads over HTTP, relayed to the indexers' query subject (services/indexer/query.ts):
 *
 *     POST /v1/pools/{pool}/q       {query, args?, asOf?, since?, history?, basisT?} → {edn}
 *     POST /v1/pools/{pool}/pull    {pattern, eid, asOf?, basisT?}                   → {edn}
 *     POST /v1/pools/{pool}/datoms  {index, components?, asOf?, limit?, basisT?}     → {edn}
 *     GET  /v1/pools/{pool}/log?from=&to=                                           → [{t, tx, instant, hash, proposal}]
 *
 * Results stay EDN text (`edn`): JSON has no keywords, sets, instants or big integers.
 * `basisT` waits until that t is visible, so a writer reads its own write.
 */
import { type Request, Router } from 'express';
import { z } from 'zod';
import type { LogEntryJson } from '../../libs/client/http-api.js';
import { kw, parseEdn } from '../../libs/db/index.js';
import type { HttpDeps } from './http.js';
import { queryInt, readBody, readQuery, whole } from './http-input.js';
import { poolSession } from './http-session.js';
import { type IndexerRequest, indexerTarget, relay } from './relay.js';

const MAX_EDN = 1 << 20;
const edn = z.string().min(1).max(MAX_EDN);
const basis = { asOf: whole.optional(), basisT: whole.optional() };

const Query = z.strictObject({
  query: edn,
  args: edn.optional(),
  since: whole.optional(),
  history: z.boolean().optional(),
  ...basis,
});
const Pull = z.strictObject({ pattern: edn, eid: z.string().min(1).max(4096), ...basis });
const Datoms = z.strictObject({
  index: z.enum(['eavt', 'aevt', 'avet', 'vaet']),
  components: edn.optional(),
  limit: z.int().min(1).max(1_000_000).optional(),
  ...basis,
});
const LogQuery = z.object({ from: queryInt.optional(), to: queryInt.optional() });

export function queryRoutes(d: HttpDeps): Router {
  const r = Router();
  const text = new TextDecoder();

  /** Relays the request `read` gives (read after the session is checked); the EDN reply. */
  const ask = async (req: Request, read: () => IndexerRequest) => {
    const s = await poolSession(d, req);
    const q = read();
    return text.decode(await relay(d, q.kind, indexerTarget(s.pool, q), s.origin));
  };

  r.post('/v1/pools/:pool/q', async (req, res) => {
    res.json({ edn: await ask(req, () => ({ kind: 'query', ...readBody(Query, req) })) });
  });
  r.post('/v1/pools/:pool/pull', async (req, res) => {
    res.json({ edn: await ask(req, () => ({ kind: 'pull', ...readBody(Pull, req) })) });
  });
  r.post('/v1/pools/:pool/datoms', async (req, res) => {
    res.json({ edn: await ask(req, () => ({ kind: 'datoms', ...readBody(Datoms, req) })) });
  });
  r.get('/v1/pools/:pool/log', async (req, res) => {
    const entries = parseEdn(await ask(req, () => ({ kind: 'log', ...readQuery(LogQuery, req) })));
    res.json((entries as Map<unknown, unknown>[]).map(logEntry));
  });
  return r;
}

/** One entry of the indexer's EDN log answer (`{:t … :tx … :instant #inst … :hash … :proposal …}`). */
function logEntry(m: Map<unknown, unknown>): LogEntryJson {
  return {
    t: m.get(kw('t')) as number,
    tx: m.get(kw('tx')) as number,
    instant: (m.get(kw('instant')) as Date).toISOString(),
    hash: m.get(kw('hash')) as string,
    proposal: m.get(kw('proposal')) as string,
  };
}
