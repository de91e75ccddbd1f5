import { base64urlnopad } from '@scure/base';
import { describe, expect, it } from 'vitest';
import { KeyPair } from './key-pair.js';
import { issueSessionToken, verifySessionToken } from './session-token.js';

const issuer = KeyPair.generate();
const member = KeyPair.generate();
const now = new Date('2026-11-24T10:00:00Z');
const token = issueSessionToken(issuer, { pool: 'demo', did: member.did, ttlSeconds: 600, now });
const parts = token.split('.');
const json = (i: number) =>
  JSON.parse(new TextDecoder().decode(base64urlnopad.decode(parts[i]!))) as Record<string, unknown>;
const reassemble = (header: unknown, claims: unknown, sig = parts[2]!) =>
  [header, claims]
    .map((x) => base64urlnopad.encode(new TextEncoder().encode(JSON.stringify(x))))
    .concat(sig)
    .join('.');

describe('session tokens', () => {
  it('are compact EdDSA JWS that verify offline with the issuer key or DID', () => {
    expect(json(0)).toEqual({ alg: 'EdDSA', typ: 'diagon-session+jwt', kid: issuer.did });
    expect(json(1)).toMatchObject({ iss: issuer.did, sub: member.did, aud: 'diagon:pool:demo' });
    const s = verifySessionToken(token, { issuerDid: issuer.did, pool: 'demo', now });
    expect(s).toMatchObject({ pool: 'demo', did: member.did, role: 'member' });
    expect(s.expiresAt.getTime() - s.issuedAt.getTime()).toBe(600_000);
    expect(verifySessionToken(token, { issuerPublicKey: issuer.publicKey, now }).did).toBe(
      member.did,
    );
  });

  it('refuse another pool, another issuer, a changed claim, expiry and garbage', () => {
    const at = { issuerDid: issuer.did, now };
    expect(() => verifySessionToken(token, { ...at, pool: 'other' })).toThrow(
      /for pool demo, not other/,
    );
    expect(() => verifySessionToken(token, { issuerDid: member.did, now })).toThrow(/issued by/);
    const forged = reassemble(json(0), { ...json(1), sub: issuer.did });
    expect(() => verifySessionToken(forged, at)).toThrow(/signature does not verify/);
    const later = new Date(now.getTime() + 3600_000);
    expect(() => verifySessionToken(token, { ...at, now: later })).toThrow(
      expect.objectContaining({ code: 'identity/session-expired' }),
    );
    const none = reassemble({ alg: 'none', typ: 'diagon-session+jwt' }, json(1), '');
    expect(() => verifySessionToken(none, at)).toThrow(/not an EdDSA/);
    const kid = reassemble({ ...json(0), kid: member.did }, json(1));
    expect(() => verifySessionToken(kid, at)).toThrow(/kid/);
    for (const junk of ['', 'a.b', 'a.b.c', 'x'.repeat(5000), '..'])
      expect(() => verifySessionToken(junk, at)).toThrow(
        expect.objectContaining({ code: 'identity/bad-session' }),
      );
    expect(() => verifySessionToken(token, { now })).toThrow(
      expect.objectContaining({ code: 'identity/bad-options' }),
    );
  });
});
