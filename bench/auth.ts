/**
 * bench/auth — signature verification and handshakes:
 *
 * - verifies/s of libs/identity's strict `verify` through noble and through node:crypto
 *   (`verifyFast`, what the servers use), of bare `crypto.verify` with a cached key, and of
 *   `openssl speed -seconds 3 ed25519` (the baseline: OpenSSL's own loop), in one run;
 * - handshakes/s through the real auth TCP server with 50 concurrent clients (Postgres from
 *   DATABASE_URL or the local test database; the in-process bus, since a handshake does
 *   not touch NATS).
 *
 * Target: server-side verification at ≥ 80% of OpenSSL's verify rate.
 */
import { execFileSync } from 'node:child_process';
import { createPublicKey, verify as nodeVerify, randomBytes } from 'node:crypto';
import { MemoryBus } from '../libs/bus/index.js';
import { connect } from '../libs/client/index.js';
import { KeyPair, verify, verifyFast } from '../libs/identity/index.js';
import { addMember, connectPostgres, migrate, upsertPool } from '../libs/storage/index.js';
import { loadAuthConfig } from '../services/auth/config.js';
import { startAuth } from '../services/auth/server.js';

const SECONDS = 3;

function rate(op: () => unknown, seconds: number): number {
  const until = performance.now() + 300;
  while (performance.now() < until) op();
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < seconds * 1000) {
    for (let i = 0; i < 50; i++) op();
    n += 50;
  }
  return n / ((performance.now() - start) / 1000);
}

function opensslVerifyRate(): number | null {
  try {
    const out = execFileSync('openssl', ['speed', '-seconds', String(SECONDS), 'ed25519'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const line = out.split('\n').find((l) => /EdDSA \(Ed25519\)/.test(l));
    const nums = line?.trim().split(/\s+/).slice(-2).map(Number);
    return nums !== undefined && Number.isFinite(nums[1]) ? nums[1]! : null;
  } catch {
    return null;
  }
}

async function handshakesPerSecond(clients: number, seconds: number): Promise<number> {
  const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `bench_auth_${randomBytes(4).toString('hex')}`;
  const sql = await connectPostgres({ url, schema, max: 10 });
  const bus = new MemoryBus();
  try {
    await migrate(sql);
    await upsertPool(sql, 'bench');
    const keys = Array.from({ length: clients }, () => KeyPair.generate());
    for (const k of keys) await addMember(sql, 'bench', { did: k.did, publicKey: k.publicKey });
    const config = {
      ...loadAuthConfig({ AUTH_TCP_PORT: '0', AUTH_HTTP_PORT: '0' }),
      rateIp: { perSecond: 1e9, burst: 1e9 },
    };
    const auth = await startAuth({ config, sql, bus, key: KeyPair.generate() });
    let done = 0;
    const until = performance.now() + seconds * 1000;
    const start = performance.now();
    await Promise.all(
      keys.map(async (key) => {
        while (performance.now() < until) {
          const c = await connect({ port: auth.tcpPort, pool: 'bench', key, reconnect: false });
          done++;
          await c.close();
        }
      }),
    );
    const elapsed = (performance.now() - start) / 1000;
    await auth.stop();
    return done / elapsed;
  } finally {
    await sql.unsafe(`drop schema if exists ${schema} cascade`);
    await sql.end({ timeout: 5 });
    await bus.close();
  }
}

export async function run(): Promise<void> {
  const key = KeyPair.generate();
  const msg = randomBytes(100);
  const sig = key.sign(msg);
  const spki = createPublicKey({
    key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), key.publicKey]),
    format: 'der',
    type: 'spki',
  });
  console.log('\nbench/auth: ed25519 verification (verifies/s, higher is better)');
  const openssl = opensslVerifyRate();
  const rows: [string, number][] = [
    ['noble (strict)', rate(() => verify(sig, msg, key.publicKey), SECONDS)],
    ['node:crypto (strict, verifyFast)', rate(() => verifyFast(sig, msg, key.publicKey), SECONDS)],
    ['node:crypto (bare, cached key)', rate(() => nodeVerify(null, msg, spki, sig), SECONDS)],
  ];
  if (openssl !== null) rows.push(['openssl speed (baseline)', openssl]);
  const width = Math.max(...rows.map(([n]) => n.length));
  for (const [name, r] of rows) {
    const ratio = openssl === null ? '' : `  ${((100 * r) / openssl).toFixed(1)}% of openssl`;
    console.log(`${name.padEnd(width)}  ${r.toFixed(0).padStart(8)}/s${ratio}`);
  }
  if (openssl === null) console.log('(openssl not on PATH: no baseline)');
  console.log('\nbench/auth: handshakes through the TCP server, 50 concurrent clients');
  const hs = await handshakesPerSecond(50, SECONDS * 2);
  console.log(
    `handshakes: ${hs.toFixed(0)}/s (connect, challenge, sign, verify, membership, session, close)`,
  );
}
