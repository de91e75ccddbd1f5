/**
 * The demo of `npm start`: three local members govern a pool `demo` — a schema and facts
 * proposed by one and carried by the others' votes — then a query, and an as-of query that
 * shows the value before the last change. A second run finds the pool and adds to it.
 */
import { join } from 'node:path';
import { connectNats, subjects } from '../libs/bus/index.js';
import { connect, DiagonHttp } from '../libs/client/index.js';
import { isDiagonError } from '../libs/db/errors.js';
import { type KeyPair, loadOrCreateKeyFile } from '../libs/identity/index.js';
import type { Cluster } from './cluster/cluster.js';

const POOL = 'demo';
const SCHEMA = `[{:db/ident :city/name :db/valueType :db.type/string :db/unique :db.unique/identity}
 {:db/ident :city/population :db/valueType :db.type/long}]`;
const CITIES = '[:find ?n ?p :where [?c :city/name ?n] [?c :city/population ?p]]';

/** Proposes as `proposer`, the others vote yes, and waits until the transaction commits. */
async function govern(
  proposer: DiagonHttp,
  voters: DiagonHttp[],
  txData: string,
  why: string,
): Promise<number> {
  const p = await proposer.propose(txData);
  console.log(`  ${short(proposer.did)} proposes ${oneLine(txData)} → ${p.id.slice(0, 16)}…`);
  for (const v of voters) {
    const r = await v.vote(p.id, true, why);
    console.log(`  ${short(v.did)} votes yes (${r.status})`);
  }
  for (let i = 0; i < 300; i++) {
    const d = await proposer.proposal(p.id);
    if (d.status === 'committed' && d.t !== undefined && d.t !== null) {
      console.log(`  committed at t=${d.t}`);
      return d.t;
    }
    if (d.status === 'failed' || d.status === 'rejected' || d.status === 'expired')
      throw new Error(`proposal ${p.id} ${d.status}: ${d.error ?? ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`proposal ${p.id} did not commit within 30 s`);
}

const short = (did: string) => `${did.slice(0, 14)}…${did.slice(-4)}`;
const oneLine = (s: string) => {
  const t = s.replace(/\s+/g, ' ');
  return t.length > 60 ? `${t.slice(0, 57)}...` : t;
};

export async function runDemo(cluster: Cluster): Promise<void> {
  const url = cluster.httpUrl;
  const keys: KeyPair[] = [];
  for (const name of ['ann', 'bob', 'cy'])
    keys.push((await loadOrCreateKeyFile(join(cluster.dataDir, 'keys', `demo-${name}.key`))).key);
  console.log(
    `\ndemo: pool "${POOL}" with members ann, bob and cy (keys in ${cluster.dataDir}/keys)`,
  );
  let fresh = true;
  try {
    await DiagonHttp.createPool({
      url,
      key: keys[0]!,
      pool: POOL,
      members: keys.map((k) => ({ did: k.did })),
    });
  } catch (e) {
    if (!isDiagonError(e) || !/exists|conflict/.test(e.code)) throw e;
    fresh = false;
  }
  await cluster.serving(POOL);
  const [ann, bob, cy] = await Promise.all(
    keys.map((key) =>
      DiagonHttp.login({ url, pool: POOL, key, elaboration: 'the npm start demo' }),
    ),
  );
  const info = await ann!.info();
  console.log(fresh ? '  created the pool' : `  welcome back: the pool is at t=${info.basisT}`);
  if (info.basisT === 0) await govern(ann!, [bob!, cy!], SCHEMA, 'the schema we agreed on');
  const before = await govern(
    bob!,
    [ann!, cy!],
    '[{:city/name "Lisbon" :city/population 545000}]',
    'census 2021',
  );
  const after = await govern(
    cy!,
    [ann!, bob!],
    `[{:city/name "Lisbon" :city/population ${545000 + growth(before)}}]`,
    'a newer estimate',
  );
  console.log(`\n  q ${CITIES}\n  → ${await queryWhenServed(() => ann!.q(CITIES))}   (t=${after})`);
  console.log(`  as of t=${before}\n  → ${await ann!.q(CITIES, { asOf: before })}`);
  await overTheWire(cluster, keys[0]!);
}

/** The same query over the TCP wire protocol, and what the capture service saw of it. */
async function overTheWire(cluster: Cluster, key: KeyPair): Promise<void> {
  const [host, port] = cluster.tcpAddress.split(':') as [string, string];
  const bus = cluster.natsUrl === null ? null : await connectNats({ url: cluster.natsUrl });
  const seen: { type: string; direction: string; size: number; did?: string }[] = [];
  const sub = bus?.subscribe(subjects.captureFrames('*'), (m) => {
    seen.push(JSON.parse(new TextDecoder().decode(m.data)));
  });
  const wire = await connect({ host, port: Number(port), pool: POOL, key, reconnect: false });
  const answer = await wire.q(CITIES);
  await wire.close();
  console.log(
    `\n  the same query over the wire protocol (TCP ${cluster.tcpAddress})\n  → ${answer}`,
  );
  await new Promise((r) => setTimeout(r, 500));
  await sub?.unsubscribe();
  await bus?.close();
  if (seen.length === 0) {
    console.log(
      '  capture: no frames seen (the capture service needs root or NET_RAW; see its log)',
    );
    return;
  }
  console.log(`  capture saw ${seen.length} frames: ${seen.map((e) => e.type).join(', ')}`);
  const q = seen.find((e) => e.type === 'query');
  if (q !== undefined) console.log(`  e.g. ${JSON.stringify(q)}`);
}

/**
 * The indexer finds a new pool within seconds (it looks every 5 s): until then a query has
 * no responder, so the demo asks again rather than fail.
 */
async function queryWhenServed(q: () => Promise<string>): Promise<string> {
  for (let i = 0; ; i++) {
    try {
      return await q();
    } catch (e) {
      if (!isDiagonError(e) || !/no-responders/.test(e.code) || i >= 100) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** A different population each run, so the as-of query always shows a change. */
function growth(t: number): number {
  return 1000 + t;
}
