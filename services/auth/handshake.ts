/**
 * The checks of the handshake, shared by the TCP protocol and the HTTP endpoints:
 *
 * 1. at Connect: the pool is a pool name and the DID is the did:key of the public key
 *    (`did-mismatch`), so nothing is looked up for a peer that cannot even say who it is;
 * 2. at Response: the signature over the domain-separated transcript (nonce, pool, both
 *    DIDs) verifies (`bad-signature`), and only then is membership looked up
 *    (`not-member`), so a peer without the key learns nothing about who is a member;
 * 3. at Elaborate: the text is long enough (`elaboration-too-short`).
 */
import { didMatchesKey, isPoolName, verifyFast } from '../../libs/identity/index.js';
import { getMember, type Sql } from '../../libs/storage/index.js';
import type { RejectCode } from '../../libs/wire/index.js';
import { type HandshakeTranscript, handshakeSigningBytes } from '../../libs/wire/index.js';

export type Verdict<T = void> =
  | ({ ok: true } & (T extends void ? object : { value: T }))
  | { ok: false; code: RejectCode; reason: string };

const reject = (code: RejectCode, reason: string) => ({ ok: false as const, code, reason });

/** Step 1: the claimed identity is well formed. */
export function checkConnect(did: string, publicKey: Uint8Array, pool: string): Verdict {
  if (!isPoolName(pool))
    return reject('protocol-error', `${JSON.stringify(pool)} is not a pool name`);
  if (!didMatchesKey(did, publicKey))
    return reject('did-mismatch', `${did} is not the did:key of the public key sent`);
  return { ok: true };
}

/** Step 2: the signature verifies and the DID is a member of the pool with this key. */
export async function checkResponse(
  sql: Sql,
  t: HandshakeTranscript,
  publicKey: Uint8Array,
  signature: Uint8Array,
): Promise<Verdict<{ role: string }>> {
  if (!verifyFast(signature, handshakeSigningBytes(t), publicKey))
    return reject('bad-signature', 'the signature does not verify for this challenge');
  const member = await getMember(sql, t.pool, t.clientDid);
  if (member === undefined)
    return reject('not-member', `${t.clientDid} is not a member of pool ${t.pool}`);
  if (Buffer.compare(Buffer.from(member.publicKey), Buffer.from(publicKey)) !== 0)
    return reject('did-mismatch', `${t.clientDid} is registered with another key`);
  return { ok: true, value: { role: member.role } };
}

/** Step 3: the elaboration says enough. */
export function checkElaboration(text: string, minLength: number): Verdict {
  const length = [...text.trim()].length;
  if (length < minLength)
    return reject(
      'elaboration-too-short',
      `the elaboration has ${length} characters; at least ${minLength} are required`,
    );
  return { ok: true };
}
