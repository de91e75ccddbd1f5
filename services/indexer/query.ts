/**
 * Answers of the query subject `diagon.pool.<p>.q`. The request is JSON:
 *
 *     {kind: 'query', query: EDN, args?: EDN vector of inputs after $, asOf?, since?, history?, basisT?}
 *     {kind: 'pull', pattern: EDN, eid: EDN, asOf?, basisT?}
 *     {kind: 'datoms', index: 'eavt'|'aevt'|'avet'|'vaet', components?: EDN vector, asOf?, limit?}
 *     {kind: 'log', from?: t, to?: t}
 *
 * `basisT` waits (up to the deadline) until the peer has that t, so a client that just
 * committed reads its own write. The reply is EDN text.
 */
import { z } from 'zod';
import { type BusMessage, parseJson } from '../../libs/bus/index.js';
import { type Db, DiagonError, parseEdn, printEdn, pull } from '../../libs/db/index.js';
import { q } from '../../libs/db/query/index.js';
import type { Peer } from '../../libs/peer/index.js';
import { readLog, type Sql } from '../../libs/storage/index.js';

const t = z.number().int().nonnegative();
const Basis = {
  asOf: t.optional(),
  since: t.optional(),
  history: z.boolean().optional(),
  basisT: t.optional(),
};
const Request = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('query'),
    query: z.string().max(1 << 20),
    args: z
      .string()
      .max(1 << 22)
      .optional(),
    ...Basis,
  }),
  z.object({
    kind: z.literal('pull'),
    pattern: z.string().max(1 << 20),
    eid: z.string().max(4096),
    ...Basis,
  }),
  z.object({
    kind: z.literal('datoms'),
    index: z.enum(['eavt', 'aevt', 'avet', 'vaet']),
    components: z
      .string()
      .max(1 << 16)
      .optional(),
    limit: z.number().int().positive().max(1_000_000).optional(),
    ...Basis,
  }),
  z.object({ kind: z.literal('log'), from: t.optional(), to: t.optional() }),
]);
export type QueryRequest = z.infer<typeof Request>;

function parseRequest(m: BusMessage): QueryRequest {
  return parseJson(m, (x) => {
    const r = Request.safeParse(x);
    if (!r.success)
      throw new DiagonError(
        'query/bad-request',
        `bad query request: ${r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`,
      );
    return r.data;
  });
}

async function view(
  peer: Peer,
  r: { asOf?: number; since?: number; history?: boolean; basisT?: number },
): Promise<Db> {
  let db = await peer.sync(Math.max(r.basisT ?? 0, r.asOf ?? 0));
  if (r.asOf !== undefined) db = db.asOf(r.asOf);
  if (r.since !== undefined) db = db.since(r.since);
  if (r.history) db = db.history();
  return db;
}

const ednArgs = (text: string | undefined): unknown[] => {
  if (text === undefined) return [];
  const v = parseEdn(text);
  if (!Array.isArray(v))
    throw new DiagonError('query/bad-request', 'args must be an EDN vector of the inputs after $');
  return v;
};

/** The EDN answer to one request. */
export async function answer(peer: Peer, sql: Sql, m: BusMessage): Promise<string> {
  const r = parseRequest(m);
  switch (r.kind) {
    case 'query':
      return printEdn(q(r.query, await view(peer, r), ...ednArgs(r.args)) as never);
    case 'pull':
      return printEdn(
        pull(await view(peer, r), parseEdn(r.pattern) as never, parseEdn(r.eid) as never) as never,
      );
    case 'datoms': {
      const db = await view(peer, r);
      const parts = ednArgs(r.components);
      const out = db.datoms(r.index, ...(parts as never[])).slice(0, r.limit ?? 10_000);
      return printEdn(out.map((d) => [d.e, d.a, d.v, d.tx, d.added]) as never);
    }
    case 'log': {
      const entries = await readLog(
        sql,
        peer.pool,
        r.from ?? 0,
        r.to ?? Number.MAX_SAFE_INTEGER,
        10_000,
      );
      return printEdn(
        entries.map((e) => ({
          t: e.t,
          tx: e.txEid,
          instant: e.instant,
          hash: Buffer.from(e.hash).toString('hex'),
          proposal: e.proposal,
        })) as never,
      );
    }
  }
}
