import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { generateSecretKey, publicKeyOf, sign, verify } from './ed25519.js';
import { RFC8032, TAMING } from './ed25519-vectors.test-support.js';
import { type SignedMessage, VerifierPool } from './verifier-pool.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));

describe('VerifierPool', () => {
  const pool = new VerifierPool({ threads: 2 });
  afterAll(() => pool.close());

  it('agrees with verify on every RFC 8032 and "Taming the many EdDSAs" vector', async () => {
    const batch: SignedMessage[] = [...RFC8032, ...TAMING].map((v) => ({
      signature: hex(v.signature),
      message: hex(v.message),
      publicKey: hex(v.publicKey),
    }));
    const expected = batch.map((b) => verify(b.signature, b.message, b.publicKey));
    expect(expected.filter(Boolean)).toHaveLength(RFC8032.length);
    expect(await pool.verify(batch)).toEqual(expected);
  });

  it('agrees with verify on signatures, keys and messages with flipped bits, in batches', async () => {
    const sk = generateSecretKey();
    const pk = publicKeyOf(sk);
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            msg: fc.uint8Array({ maxLength: 80 }),
            part: fc.constantFrom('signature', 'publicKey', 'message', 'none'),
            at: fc.nat(),
            bit: fc.integer({ min: 0, max: 7 }),
          }),
          { maxLength: 20 },
        ),
        async (cases) => {
          const batch = cases.map(({ msg, part, at, bit }) => {
            const b = {
              signature: sign(msg, sk),
              message: Uint8Array.from(msg),
              publicKey: Uint8Array.from(pk),
            };
            const target =
              part === 'signature' ? b.signature : part === 'publicKey' ? b.publicKey : b.message;
            if (part !== 'none' && target.length > 0) target[at % target.length]! ^= 1 << bit;
            return b;
          });
          const ok = await pool.verify(batch);
          expect(ok).toEqual(batch.map((b) => verify(b.signature, b.message, b.publicKey)));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('answers concurrent batches each with its own results, and refuses work once closed', async () => {
    const sk = generateSecretKey();
    const pk = publicKeyOf(sk);
    const batches = Array.from({ length: 10 }, (_, i) =>
      Array.from({ length: 5 }, (_, j) => {
        const message = new TextEncoder().encode(`${i}/${j}`);
        const signature = sign(message, sk);
        if ((i + j) % 3 === 0) signature[0]! ^= 1;
        return { signature, message, publicKey: pk };
      }),
    );
    const results = await Promise.all(batches.map((b) => pool.verify(b)));
    expect(results).toEqual(batches.map((b, i) => b.map((_, j) => (i + j) % 3 !== 0)));
    const closed = new VerifierPool({ threads: 1 });
    await closed.close();
    await expect(closed.verify(batches[0]!)).rejects.toMatchObject({
      code: 'identity/verifier-closed',
    });
  });
});
