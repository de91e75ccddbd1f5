/**
 * Pools over HTTP:
 *
 *     GET  /v1/pools                  the pools of the session's DID → [{pool, basisT, members, role}]
 *     POST /v1/pools                  create one (AUTH_ALLOW_POOL_CREATE), signed by a member named in it
 *     GET  /v1/pools/{pool}           → {pool, createdAt, basisT, headHash, indexT, members, policy}
 *     GET  /v1/pools/{pool}/export    → the PoolExport of services/consensus/verify.ts
 *
 * A creation needs no session (the pool has no members yet): its body is signed, message
 * kind `pool-create` in the new pool's domain, by one of the voting members it names, and
 * it must be fresh (±10 minutes), so an old signature cannot recreate a deleted pool later.
 */
import { Router } from 'express';
import { z } from 'zod';
import { jsonData, subjects } from '../../libs/bus/index.js';
import {
  POOL_CREATE_SIGNING_KIND,
  type PoolCreated,
  type PoolInfo,
  type PoolSummary,
  poolCreateValue,
} from '../../libs/client/http-api.js';
import { parsePolicy } from '../../libs/governance/index.js';
import {
  isDid,
  isPoolName,
  parseDid,
  signingBytes,
  verifyFast,
} from '../../libs/identity/index.js';
import {
  addMember,
  getPool,
  getRoot,
  listMembers,
  type Role,
  upsertPool,
} from '../../libs/storage/index.js';
import { exportPool } from '../consensus/verify.js';
import type { HttpDeps } from './http.js';
import { readBody, signature, whole } from './http-input.js';
import { authenticate, limitByIp, poolSession } from './http-session.js';
import { HttpProblem } from './problem.js';
import { relayJson } from './relay.js';

const FRESH_MS = 10 * 60_000;

const CreateRequest = z.strictObject({
  body: z.strictObject({
    pool: z
      .string()
      .refine(isPoolName, 'not a pool name (1-63 lowercase letters, digits, inner -)'),
    members: z
      .array(
        z.strictObject({
          did: z.string().max(256).refine(isDid, 'not an ed25519 did:key'),
          role: z.enum(['member', 'observer']),
        }),
      )
      .min(1)
      .max(1000),
    policy: z
      .strictObject({
        threshold: z.strictObject({ num: z.int().min(1), den: z.int().min(1) }).optional(),
        proposerVotes: z.boolean().optional(),
        ttlMs: z
          .int()
          .min(1000)
          .max(365 * 86_400_000)
          .optional(),
      })
      .optional(),
    createdAt: whole,
  }),
  signature,
});

export function poolRoutes(d: HttpDeps): Router {
  const r = Router();

  r.get('/v1/pools', async (req, res) => {
    const s = authenticate(d, req);
    const rows = await d.sql<{ pool: string; basis_t: number; role: Role; members: number }[]>`
      select p.pool, p.basis_t, m.role,
        (select count(*)::int from members x where x.pool = p.pool) as members
      from members m join pools p on p.pool = m.pool
      where m.did = ${s.did} order by p.pool`;
    const out: PoolSummary[] = rows.map((x) => ({
      pool: x.pool,
      basisT: x.basis_t,
      members: x.members,
      role: x.role,
    }));
    res.json(out);
  });

  r.post('/v1/pools', async (req, res) => {
    if (!d.config.allowPoolCreate)
      throw new HttpProblem(
        403,
        'pool-create-disabled',
        'this edge does not create pools; set AUTH_ALLOW_POOL_CREATE=true, or create the pool with the operator',
      );
    limitByIp(d, req);
    const { body, signature: sig } = readBody(CreateRequest, req);
    const dids = body.members.map((m) => m.did);
    if (new Set(dids).size !== dids.length)
      throw new HttpProblem(400, 'bad-request', 'a DID is named twice in members');
    if (!body.members.some((m) => m.role === 'member'))
      throw new HttpProblem(400, 'bad-request', 'a pool needs at least one voting member');
    if (Math.abs(Date.now() - body.createdAt) > FRESH_MS)
      throw new HttpProblem(
        400,
        'stale',
        `createdAt is ${new Date(body.createdAt).toISOString()}: sign a creation made now (check the clock)`,
      );
    const { ttlMs, ...rule } = body.policy ?? {};
    parsePolicy(rule);
    // The signer is not named: try each voting member's key (bytes encoded once).
    const bytes = signingBytes(POOL_CREATE_SIGNING_KIND, body.pool, poolCreateValue(body));
    const signer = body.members.find(
      (m) => m.role === 'member' && verifyFast(sig, bytes, parseDid(m.did)),
    );
    if (signer === undefined)
      throw new HttpProblem(
        401,
        'bad-signature',
        `the signature is not a voting member's over this pool-create body for ${body.pool}`,
      );
    const created = await d.sql.begin(async (tx) => {
      // Two creations of one name at once: the second waits here, then finds the first.
      await tx`select pg_advisory_xact_lock(hashtext(${`diagon.pool-create.${body.pool}`}))`;
      if ((await getPool(tx, body.pool)) !== undefined)
        throw new HttpProblem(409, 'pool-exists', `pool ${body.pool} exists already`);
      const row = await upsertPool(tx, body.pool, {
        ...rule,
        ...(ttlMs === undefined ? {} : { ttlMs }),
      });
      for (const m of body.members)
        await addMember(tx, body.pool, { did: m.did, publicKey: parseDid(m.did), role: m.role });
      return row;
    });
    d.log.info({ pool: body.pool, by: signer.did }, 'pool created');
    const out: PoolCreated = {
      pool: body.pool,
      members: body.members,
      createdAt: created.createdAt.toISOString(),
    };
    res.status(201).location(`/v1/pools/${body.pool}`).json(out);
  });

  r.get('/v1/pools/:pool', async (req, res) => {
    const s = await poolSession(d, req);
    const [row, root, members] = await Promise.all([
      getPool(d.sql, s.pool),
      getRoot(d.sql, s.pool),
      listMembers(d.sql, s.pool),
    ]);
    if (row === undefined || root === undefined)
      throw new HttpProblem(404, 'no-pool', `pool ${s.pool} does not exist`);
    const out: PoolInfo = {
      pool: s.pool,
      createdAt: row.createdAt.toISOString(),
      basisT: root.basisT,
      headHash: root.headHash === null ? null : Buffer.from(root.headHash).toString('hex'),
      indexT: root.indexT,
      members: members.map((m) => ({ did: m.did, role: m.role })),
      policy: row.policy,
    };
    res.json(out);
  });

  r.get('/v1/pools/:pool/export', async (req, res) => {
    const s = await poolSession(d, req);
    // The log key's DID is the consensus service's to tell: it signs the checkpoints.
    const { logKey } = (await relayJson(
      d,
      'tlog',
      { subject: subjects.tlog(s.pool), data: jsonData({ kind: 'key' }) },
      s.origin,
    )) as { logKey: string };
    res.json(await exportPool(d.sql, s.pool, logKey));
  });

  return r;
}
