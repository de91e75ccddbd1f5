import { createPublicKey, verify as opensslVerify } from 'node:crypto';
import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkPublicKey,
  generateSecretKey,
  isSmallOrderEncoding,
  isValidPublicKey,
  publicKeyOf,
  sign,
  type VerifyImpl,
  verify,
  verifyFast,
} from './ed25519.js';
import { RFC8032, TAMING } from './ed25519-vectors.test-support.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const IMPLS: VerifyImpl[] = ['noble', 'node'];
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
/** An order-8 point (Taming vector 0's R). */
const T8 = ed.Point.fromBytes(
  hex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a'),
);

function leBytes(n: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = Number((n >> BigInt(8 * i)) & 0xffn);
  return out;
}

function leNumber(b: Uint8Array): bigint {
  return b.reduceRight((n, x) => (n << 8n) | BigInt(x), 0n);
}

/** The unmodified OpenSSL verdict, without the strict pre-checks. */
function opensslRaw(sig: Uint8Array, msg: Uint8Array, pub: Uint8Array): boolean {
  try {
    const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), pub]);
    return opensslVerify(
      null,
      msg,
      createPublicKey({ key: spki, format: 'der', type: 'spki' }),
      sig,
    );
  } catch {
    return false;
  }
}

function nobleRaw(sig: Uint8Array, msg: Uint8Array, pub: Uint8Array, zip215: boolean): boolean {
  try {
    return ed.verify(sig, msg, pub, { zip215 });
  } catch {
    return false;
  }
}

/**
 * A signature made "by hand" with noble's arithmetic, for any public point A' = [a]B + T and
 * any R' = [r]B + U: S = r + k·a with k = H(R' ‖ A' ‖ M). Honest signers never do this; a
 * malicious key owner can.
 */
function forge(secretKey: Uint8Array, msg: Uint8Array, torsionA: ed.Point, torsionR: ed.Point) {
  const { scalar } = ed.utils.getExtendedPublicKey(secretKey);
  const a = scalar;
  const A = ed.Point.BASE.multiply(a).add(torsionA).toBytes();
  const r = (leNumber(sha512(msg)) % (L - 1n)) + 1n;
  const R = ed.Point.BASE.multiply(r).add(torsionR).toBytes();
  const k = leNumber(sha512(Uint8Array.from([...R, ...A, ...msg]))) % L;
  const S = (r + k * a) % L;
  return { publicKey: A, signature: Uint8Array.from([...R, ...leBytes(S)]), k };
}

describe('RFC 8032 §7.1 test vectors', () => {
  it('has the 1023-byte message of TEST 1024 and SHA-512("abc") as SHA(abc)', () => {
    expect(hex(RFC8032[3]!.message)).toHaveLength(1023);
    expect(RFC8032[4]!.message).toBe(toHex(sha512(new TextEncoder().encode('abc'))));
  });

  for (const v of RFC8032) {
    it(`${v.name}: derives the key, signs and verifies alike in noble and node:crypto`, () => {
      const sk = hex(v.secretKey);
      const msg = hex(v.message);
      expect(toHex(publicKeyOf(sk))).toBe(v.publicKey);
      expect(toHex(sign(msg, sk))).toBe(v.signature);
      expect(toHex(sign(msg, sk, { impl: 'node' }))).toBe(v.signature);
      for (const impl of IMPLS) {
        expect(verify(hex(v.signature), msg, hex(v.publicKey), { impl })).toBe(true);
        const wrong = Uint8Array.from([...msg, 0]);
        expect(verify(hex(v.signature), wrong, hex(v.publicKey), { impl })).toBe(false);
      }
      expect(verifyFast(hex(v.signature), msg, hex(v.publicKey))).toBe(true);
    });
  }
});

describe('"Taming the many EdDSAs", Table 6, vectors 0-11', () => {
  // What each verifier does with the vectors: the libraries disagree, the strict policy
  // (both implementations) refuses every one. ✓ accepts, · rejects.
  const expected = {
    //             0    1    2    3    4    5    6    7    8    9    10   11
    opensslRaw: ['✓', '✓', '✓', '✓', '·', '·', '·', '·', '·', '·', '·', '✓'],
    nobleZip215: ['✓', '✓', '✓', '✓', '✓', '✓', '·', '·', '·', '✓', '✓', '✓'],
    nobleRfc8032: ['·', '·', '✓', '✓', '✓', '✓', '·', '·', '·', '·', '·', '·'],
    strictNoble: ['·', '·', '·', '·', '·', '·', '·', '·', '·', '·', '·', '·'],
    strictNode: ['·', '·', '·', '·', '·', '·', '·', '·', '·', '·', '·', '·'],
  };

  it('matches the documented table for the raw libraries and for the strict policy', () => {
    const mark = (b: boolean) => (b ? '✓' : '·');
    const seen = { ...expected };
    for (const key of Object.keys(seen) as (keyof typeof expected)[]) seen[key] = [];
    for (const v of TAMING) {
      const [sig, msg, pub] = [hex(v.signature), hex(v.message), hex(v.publicKey)];
      seen.opensslRaw.push(mark(opensslRaw(sig, msg, pub)));
      seen.nobleZip215.push(mark(nobleRaw(sig, msg, pub, true)));
      seen.nobleRfc8032.push(mark(nobleRaw(sig, msg, pub, false)));
      seen.strictNoble.push(mark(verify(sig, msg, pub, { impl: 'noble' })));
      seen.strictNode.push(mark(verify(sig, msg, pub, { impl: 'node' })));
    }
    expect(seen).toEqual(expected);
  });

  it('refuses each vector for the documented reason', () => {
    const smallA = [0, 1, 10, 11];
    const mixedA = [2, 3, 4, 5, 8, 9];
    const bigS = [6, 7];
    for (const v of TAMING) {
      const pub = hex(v.publicKey);
      if (smallA.includes(v.n)) expect(() => checkPublicKey(pub)).toThrow(/small-order|canonical/);
      if (mixedA.includes(v.n)) expect(() => checkPublicKey(pub)).toThrow(/mixed-order/);
      if (bigS.includes(v.n)) {
        expect(isValidPublicKey(pub)).toBe(true);
        expect(leNumber(hex(v.signature).subarray(32)) >= L).toBe(true);
      }
    }
  });
});

describe('the strict policy', () => {
  const sk = hex(RFC8032[1]!.secretKey);
  const pk = publicKeyOf(sk);
  const msg = new TextEncoder().encode('strict');
  const sig = sign(msg, sk);

  it('refuses S + L (the malleated twin of a valid signature) in both', () => {
    const s = leNumber(sig.subarray(32)) + L;
    const twin = Uint8Array.from([...sig.subarray(0, 32), ...leBytes(s)]);
    expect(opensslRaw(twin, msg, pk)).toBe(false);
    for (const impl of IMPLS) expect(verify(twin, msg, pk, { impl })).toBe(false);
  });

  it('refuses a mixed-order key, even with a signature OpenSSL and noble accept', () => {
    // Find a message whose k is a multiple of 8: then [k]T vanishes and the raw
    // cofactorless equation holds for A' = A + T.
    for (let i = 0; ; i++) {
      const m = new TextEncoder().encode(`mixed ${i}`);
      const f = forge(sk, m, T8, ed.Point.ZERO);
      if (f.k % 8n !== 0n) continue;
      expect(opensslRaw(f.signature, m, f.publicKey)).toBe(true);
      expect(nobleRaw(f.signature, m, f.publicKey, false)).toBe(true);
      expect(isValidPublicKey(f.publicKey)).toBe(false);
      for (const impl of IMPLS) expect(verify(f.signature, m, f.publicKey, { impl })).toBe(false);
      break;
    }
  });

  it('refuses R with a torsion component, which noble alone (cofactored) accepts', () => {
    const f = forge(sk, msg, ed.Point.ZERO, T8);
    expect(toHex(f.publicKey)).toBe(toHex(pk));
    expect(nobleRaw(f.signature, msg, pk, false)).toBe(true);
    expect(opensslRaw(f.signature, msg, pk)).toBe(false);
    for (const impl of IMPLS) expect(verify(f.signature, msg, pk, { impl })).toBe(false);
  });

  it('blocks every encoding of the eight small-order points as R and as A', () => {
    let p = ed.Point.ZERO;
    for (let i = 0; i < 8; i++, p = p.add(T8)) {
      const enc = p.toBytes();
      expect(isSmallOrderEncoding(enc)).toBe(true);
      expect(isValidPublicKey(enc)).toBe(false);
      const flipped = Uint8Array.from(enc);
      flipped[31]! ^= 0x80;
      expect(isSmallOrderEncoding(flipped)).toBe(true);
      for (const impl of IMPLS) {
        const withR = Uint8Array.from([...enc, ...sig.subarray(32)]);
        expect(verify(withR, msg, pk, { impl })).toBe(false);
      }
    }
    expect(isSmallOrderEncoding(pk)).toBe(false);
  });

  it('returns false, never throws, for arguments of the wrong length or type', () => {
    for (const impl of IMPLS) {
      expect(verify(sig.subarray(1), msg, pk, { impl })).toBe(false);
      expect(verify(sig, msg, pk.subarray(1), { impl })).toBe(false);
      expect(verify(new Uint8Array(64), msg, pk, { impl })).toBe(false);
      expect(verify(sig, 'text' as unknown as Uint8Array, pk, { impl })).toBe(false);
    }
  });

  it('refuses secret keys that are not 32 bytes', () => {
    expect(() => publicKeyOf(new Uint8Array(31))).toThrow(/32-byte seed/);
    expect(() => sign(msg, new Uint8Array(64))).toThrow(/32-byte seed/);
  });
});

describe('noble and node:crypto agree', () => {
  const keys = Array.from({ length: 4 }, () => generateSecretKey());
  const signed = keys.map((sk, i) => {
    const msg = new TextEncoder().encode(`message ${i}`);
    return { sk, pk: publicKeyOf(sk), msg, sig: sign(msg, sk) };
  });

  it('on valid signatures and on signatures, keys and messages with flipped bits', () => {
    fc.assert(
      fc.property(
        fc.nat(signed.length - 1),
        fc.constantFrom('signature', 'publicKey', 'message', 'none'),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        (which, part, at, bit) => {
          const s = signed[which]!;
          const [sig, pk, msg] = [
            Uint8Array.from(s.sig),
            Uint8Array.from(s.pk),
            Uint8Array.from(s.msg),
          ];
          const target = part === 'signature' ? sig : part === 'publicKey' ? pk : msg;
          if (part !== 'none') target[at % target.length]! ^= 1 << bit;
          const noble = verify(sig, msg, pk, { impl: 'noble' });
          expect(verify(sig, msg, pk, { impl: 'node' })).toBe(noble);
          expect(noble).toBe(part === 'none');
        },
      ),
      { numRuns: 150 },
    );
  });

  it('on random bytes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 64, maxLength: 64 }),
        fc.uint8Array({ maxLength: 64 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (sig, msg, pk) => {
          expect(verify(sig, msg, pk, { impl: 'node' })).toBe(verify(sig, msg, pk));
        },
      ),
      { numRuns: 100 },
    );
  });
});
