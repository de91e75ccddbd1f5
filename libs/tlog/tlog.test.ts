import { base64 } from '@scure/base';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DiagonError } from '../db/errors.js';
import { KeyPair, signingBytes } from '../identity/index.js';
import {
  consistencyProof,
  consistencyRanges,
  decodeLeaf,
  emptyRoot,
  encodeLeaf,
  formatCheckpoint,
  formatSignedNote,
  formatVerifierKey,
  inclusionProof,
  inclusionRanges,
  leafHash,
  MerkleLog,
  nodeHash,
  noteKeyId,
  parseCheckpoint,
  parseSignedNote,
  parseVerifierKey,
  poolOrigin,
  readProof,
  rootFromLeafHashes,
  signCheckpoint,
  signNote,
  verifyCheckpoint,
  verifyConsistency,
  verifyInclusion,
  verifyNote,
} from './index.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const utf8 = (s: string) => new TextEncoder().encode(s);

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[Math.floor(bit / 8) % out.length]! ^= 1 << (bit % 8);
  return out;
}

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof DiagonError) return e.code;
    throw e;
  }
  return undefined;
}

function reason(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    if (e instanceof DiagonError) return e.data.reason;
    throw e;
  }
  return undefined;
}

/** n distinct leaf hashes, different for each salt. */
const leafHashes = (n: number, salt: number) =>
  Array.from({ length: n }, (_, i) => leafHash(utf8(`${salt}/${i}`)));

// transparency-dev/merkle, proof/verify_test.go: the reference tree of RFC 6962 test data.
const REF_LEAVES = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
].map(hex);
const REF_ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
// {leaf (1-based), size, proof}
const REF_INCLUSION: [number, number, string[]][] = [
  [
    1,
    8,
    [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  ],
  [
    6,
    8,
    [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
  [3, 3, ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125']],
  [
    2,
    5,
    [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  ],
];
// {size1, size2, proof}
const REF_CONSISTENCY: [number, number, string[]][] = [
  [1, 1, []],
  [
    1,
    8,
    [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  ],
  [
    6,
    8,
    [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
  [
    2,
    5,
    [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  ],
  [
    6,
    7,
    [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
];

describe('merkle: reference vectors', () => {
  const hashes = REF_LEAVES.map(leafHash);

  it('hashes as RFC 6962 (transparency-dev/merkle rfc6962_test.go)', () => {
    expect(toHex(emptyRoot())).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    expect(toHex(rootFromLeafHashes([]))).toBe(toHex(emptyRoot()));
    expect(toHex(leafHash(new Uint8Array(0)))).toBe(
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    );
    expect(toHex(leafHash(utf8('L123456')))).toBe(
      '395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56',
    );
    expect(toHex(nodeHash(utf8('N123'), utf8('N456')))).toBe(
      'aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb',
    );
  });

  it('has the reference root at every size, built whole and incrementally', () => {
    const log = new MerkleLog();
    for (let n = 1; n <= 8; n++) {
      expect(toHex(rootFromLeafHashes(hashes.slice(0, n)))).toBe(REF_ROOTS[n - 1]);
      log.append(hashes[n - 1]!);
      expect(toHex(log.root())).toBe(REF_ROOTS[n - 1]);
    }
  });

  it('makes and verifies the reference inclusion proofs', () => {
    for (const [leaf, size, want] of REF_INCLUSION) {
      const proof = inclusionProof(leaf - 1, size, hashes);
      expect(proof.map(toHex)).toEqual(want);
      const root = hex(REF_ROOTS[size - 1]!);
      expect(verifyInclusion(hashes[leaf - 1]!, leaf - 1, size, proof, root)).toBe(true);
      // The probes of verify_test.go: wrong index, size, leaf, root; extra or missing hashes.
      const wrong: [number, number, Uint8Array, Uint8Array[], Uint8Array][] = [
        [leaf - 2, size, hashes[leaf - 1]!, proof, root],
        [leaf, size, hashes[leaf - 1]!, proof, root],
        [(leaf - 1) ^ 2, size, hashes[leaf - 1]!, proof, root],
        [leaf - 1, size * 2, hashes[leaf - 1]!, proof, root],
        [leaf - 1, Math.floor(size / 2), hashes[leaf - 1]!, proof, root],
        [leaf - 1, size, utf8('WrongLeaf'), proof, root],
        [leaf - 1, size, hashes[leaf - 1]!, proof, emptyRoot()],
        [leaf - 1, size, hashes[leaf - 1]!, [...proof, root], root],
        [leaf - 1, size, hashes[leaf - 1]!, [root, ...proof], root],
        [leaf - 1, size, hashes[leaf - 1]!, proof.slice(0, -1), root],
        ...proof.map((_, i): [number, number, Uint8Array, Uint8Array[], Uint8Array] => [
          leaf - 1,
          size,
          hashes[leaf - 1]!,
          proof.map((p, j) => (j === i ? flipBit(p, 3) : p)),
          root,
        ]),
      ];
      for (const [i, s, l, p, r] of wrong) expect(verifyInclusion(l, i, s, p, r)).toBe(false);
    }
  });

  it('makes and verifies the reference consistency proofs', () => {
    for (const [m, n, want] of REF_CONSISTENCY) {
      const proof = consistencyProof(m, n, hashes);
      expect(proof.map(toHex)).toEqual(want);
      const [r1, r2] = [hex(REF_ROOTS[m - 1]!), hex(REF_ROOTS[n - 1]!)];
      expect(verifyConsistency(m, n, proof, r1, r2)).toBe(true);
      if (proof.length === 0) continue;
      const wrong: [number, number, Uint8Array[], Uint8Array, Uint8Array][] = [
        [m - 1, n, proof, r1, r2],
        [m + 1, n, proof, r1, r2],
        [m ^ 2, n, proof, r1, r2],
        [m, n * 2, proof, r1, r2],
        [m, Math.floor(n / 2), proof, r1, r2],
        [m, n, proof, r2, r1],
        [m, n, [], r1, r2],
        [m, n, [...proof, r1], r1, r2],
        [m, n, [r2, ...proof], r1, r2],
        [m, n, [proof[0]!, ...proof], r1, r2],
        [m, n, proof.slice(0, -1), r1, r2],
        ...proof.map((_, i): [number, number, Uint8Array[], Uint8Array, Uint8Array] => [
          m,
          n,
          proof.map((p, j) => (j === i ? flipBit(p, 4) : p)),
          r1,
          r2,
        ]),
      ];
      for (const args of wrong) expect(verifyConsistency(...args)).toBe(false);
    }
  });

  it('gives the subtree ranges of transparency-dev proof_test.go', () => {
    // Size 7, index 2: d g and l = hash(j, i) = the range [4, 7).
    expect(inclusionRanges(2, 7)).toEqual([
      { start: 3, end: 4 },
      { start: 0, end: 2 },
      { start: 4, end: 7 },
    ]);
    // 5 → 7: e f j k, where "j is taken instead of its missing parent" (one range [4, 7)
    // splits at the verifier as MTH(e, f) and j).
    expect(consistencyRanges(5, 7)).toEqual([
      { start: 4, end: 5 },
      { start: 5, end: 6 },
      { start: 6, end: 7 },
      { start: 0, end: 4 },
    ]);
    expect(consistencyRanges(2, 8)).toEqual([
      { start: 2, end: 4 },
      { start: 4, end: 8 },
    ]);
    expect(consistencyRanges(3, 3)).toEqual([]);
  });

  it('edge cases: empty trees, equal sizes, out of range', () => {
    const [r1, r2] = [hex(REF_ROOTS[0]!), hex(REF_ROOTS[1]!)];
    expect(verifyConsistency(0, 0, [], emptyRoot(), emptyRoot())).toBe(true);
    expect(verifyConsistency(0, 2, [], emptyRoot(), r2)).toBe(true);
    expect(verifyConsistency(0, 2, [], r1, r2)).toBe(false);
    expect(verifyConsistency(1, 1, [], r1, r1)).toBe(true);
    expect(verifyConsistency(1, 1, [], r1, r2)).toBe(false);
    expect(verifyConsistency(1, 1, [emptyRoot()], r1, r1)).toBe(false);
    expect(verifyConsistency(2, 1, [], r2, r1)).toBe(false);
    expect(verifyInclusion(leafHash(utf8('data')), 0, 1, [], leafHash(utf8('data')))).toBe(true);
    expect(verifyInclusion(emptyRoot(), 0, 0, [], emptyRoot())).toBe(false);
    expect(verifyInclusion(emptyRoot(), 1.5, 2, [], emptyRoot())).toBe(false);
    expect(code(() => inclusionRanges(0, 0))).toBe('tlog/bad-range');
    expect(code(() => inclusionRanges(7, 7))).toBe('tlog/bad-range');
    expect(code(() => consistencyRanges(9, 8))).toBe('tlog/bad-range');
    expect(code(() => inclusionProof(0, 8, hashes.slice(0, 7)))).toBe('tlog/bad-range');
    expect(code(() => rootFromLeafHashes([utf8('short')]))).toBe('tlog/bad-hash');
  });
});

describe('merkle: properties', () => {
  const tree = fc
    .integer({ min: 1, max: 160 })
    .chain((n) => fc.record({ n: fc.constant(n), salt: fc.nat(), i: fc.nat({ max: n - 1 }) }));

  it('an inclusion proof verifies, and no flipped bit or other index does', () => {
    fc.assert(
      fc.property(tree, fc.nat(), fc.nat({ max: 159 }), ({ n, salt, i }, bit, other) => {
        const hashes = leafHashes(n, salt);
        const root = rootFromLeafHashes(hashes);
        const proof = inclusionProof(i, n, hashes);
        const leaf = hashes[i]!;
        expect(verifyInclusion(leaf, i, n, proof, root)).toBe(true);
        expect(verifyInclusion(flipBit(leaf, bit % 256), i, n, proof, root)).toBe(false);
        expect(verifyInclusion(leaf, i, n, proof, flipBit(root, bit % 256))).toBe(false);
        if (proof.length > 0) {
          const k = bit % proof.length;
          const bad = proof.map((p, j) => (j === k ? flipBit(p, bit % 256) : p));
          expect(verifyInclusion(leaf, i, n, bad, root)).toBe(false);
        }
        const j = i ^ (1 << (bit % 8));
        expect(verifyInclusion(leaf, j, n, proof, root)).toBe(false);
        if (other !== i) expect(verifyInclusion(leaf, other, n, proof, root)).toBe(false);
      }),
      { numRuns: 150 },
    );
  });

  it('a consistency proof verifies, and fails for a different tree or a flipped bit', () => {
    const sizes = fc
      .integer({ min: 1, max: 160 })
      .chain((n) =>
        fc.record({ n: fc.constant(n), m: fc.nat({ max: n }), j: fc.nat({ max: n - 1 }) }),
      );
    fc.assert(
      fc.property(sizes, fc.nat(), fc.nat(), ({ m, n, j }, salt, bit) => {
        const a = leafHashes(n, salt);
        const b = a.map((h, k) => (k === j ? leafHash(utf8(`other ${salt}`)) : h));
        const [oldA, newA] = [rootFromLeafHashes(a.slice(0, m)), rootFromLeafHashes(a)];
        const newB = rootFromLeafHashes(b);
        const proofA = consistencyProof(m, n, a);
        expect(verifyConsistency(m, n, proofA, oldA, newA)).toBe(true);
        if (m === 0) return;
        expect(verifyConsistency(m, n, proofA, oldA, newB)).toBe(false);
        if (j < m)
          expect(verifyConsistency(m, n, consistencyProof(m, n, b), oldA, newB)).toBe(false);
        expect(verifyConsistency(m, n, proofA, flipBit(oldA, bit % 256), newA)).toBe(false);
        if (proofA.length > 0) {
          const k = bit % proofA.length;
          const bad = proofA.map((p, i) => (i === k ? flipBit(p, bit % 256) : p));
          expect(verifyConsistency(m, n, bad, oldA, newA)).toBe(false);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('MerkleLog has the root of every prefix; fromFrontier picks up where it left', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 90 }),
        fc.nat({ max: 30 }),
        fc.nat(),
        (n, more, salt) => {
          const hashes = leafHashes(n + more, salt);
          const log = new MerkleLog();
          expect(toHex(log.root())).toBe(toHex(emptyRoot()));
          for (let k = 0; k < n; k++) {
            expect(log.append(hashes[k]!)).toBe(k);
            expect(toHex(log.root())).toBe(toHex(rootFromLeafHashes(hashes.slice(0, k + 1))));
          }
          const { size, hashes: frontier } = log.frontier();
          expect(size).toBe(n);
          const restored = MerkleLog.fromFrontier(size, frontier);
          expect(toHex(restored.root())).toBe(toHex(log.root()));
          for (const h of hashes.slice(n)) {
            log.append(h);
            restored.append(h);
            expect(toHex(restored.root())).toBe(toHex(log.root()));
          }
          expect(restored.frontier().hashes.map(toHex)).toEqual(log.frontier().hashes.map(toHex));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('fromFrontier refuses a frontier of the wrong shape', () => {
    const log = new MerkleLog();
    for (const h of leafHashes(5, 1)) log.append(h);
    const { hashes } = log.frontier();
    expect(hashes).toHaveLength(2);
    expect(code(() => MerkleLog.fromFrontier(4, hashes))).toBe('tlog/bad-frontier');
    expect(code(() => MerkleLog.fromFrontier(7, hashes))).toBe('tlog/bad-frontier');
    expect(code(() => MerkleLog.fromFrontier(5, [hashes[0]!, utf8('x')]))).toBe(
      'tlog/bad-frontier',
    );
    expect(code(() => MerkleLog.fromFrontier(-1, []))).toBe('tlog/bad-frontier');
  });

  it('proofs read from an async store and from a leaf accessor equal the in-memory ones', async () => {
    const hashes = leafHashes(37, 9);
    const store = async (start: number, end: number) =>
      rootFromLeafHashes(hashes.slice(start, end));
    for (const [i, m] of [
      [0, 1],
      [20, 32],
      [36, 36],
    ] as const) {
      const fromStore = await readProof(inclusionRanges(i, 37), store);
      expect(fromStore.map(toHex)).toEqual(inclusionProof(i, 37, hashes).map(toHex));
      expect(inclusionProof(i, 37, (k) => hashes[k]!).map(toHex)).toEqual(fromStore.map(toHex));
      const consistent = await readProof(consistencyRanges(m, 37), store);
      expect(consistent.map(toHex)).toEqual(consistencyProof(m, 37, hashes).map(toHex));
    }
  });

  it('works beyond 32 bits: a tree of 2^52 + 3 identical leaves', async () => {
    // With identical leaves a subtree's hash depends only on its width, so it is cheap.
    const h = leafHash(utf8('same'));
    const widths = new Map<number, Uint8Array>([[1, h]]);
    const mth = (w: number): Uint8Array => {
      const known = widths.get(w);
      if (known) return known;
      let k = 1;
      while (k * 2 < w) k *= 2;
      const out = nodeHash(mth(k), mth(w - k));
      widths.set(w, out);
      return out;
    };
    const store = async (start: number, end: number) => mth(end - start);
    const size = 2 ** 52 + 3;
    for (const index of [0, 2 ** 33 + 1, 2 ** 52 - 1, 2 ** 52 + 2]) {
      const proof = await readProof(inclusionRanges(index, size), store);
      expect(proof.length).toBeLessThanOrEqual(54);
      expect(verifyInclusion(h, index, size, proof, mth(size))).toBe(true);
    }
    for (const m of [1, 2 ** 32 + 1, 2 ** 40, 2 ** 52 + 1]) {
      const proof = await readProof(consistencyRanges(m, size), store);
      expect(verifyConsistency(m, size, proof, mth(m), mth(size))).toBe(true);
      expect(verifyConsistency(m, size, proof, mth(m), mth(size - 1))).toBe(false);
    }
  });
});

// golang.org/x/mod sumdb/note/note_test.go (and the package doc of note.go).
const PETER_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const PETER_SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const ENOCH_VKEY = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop';
const TEXT =
  'If you think cryptography is the answer to your problem,\n' +
  "then you don't know what your problem is.\n";
const PETER_B64 =
  'x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=';
const ENOCH_B64 =
  'rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=';
const PETER_SIG = `— PeterNeumann ${PETER_B64}\n`;
const ENOCH_SIG = `— EnochRoot ${ENOCH_B64}\n`;
const peterKey = KeyPair.fromSecretKey(
  base64.decode(PETER_SKEY.split('+').slice(4).join('+')).subarray(1),
);
const peter = parseVerifierKey(PETER_VKEY);
const enoch = parseVerifierKey(ENOCH_VKEY);
/** The signature line with "ABCD" inserted 43 characters into its base64. */
const corrupt = (b64: string) => `${b64.slice(0, 43)}ABCD${b64.slice(43)}`;

describe('signed notes: golang.org/x/mod/sumdb/note vectors', () => {
  it('parses and formats verifier keys', () => {
    expect(peter.keyName).toBe('PeterNeumann');
    expect(peter.keyId).toBe(0xc74f20a3);
    expect(toHex(peter.publicKey)).toBe(toHex(peterKey.publicKey));
    expect(noteKeyId('PeterNeumann', peterKey.publicKey)).toBe(0xc74f20a3);
    expect(formatVerifierKey('PeterNeumann', peterKey.publicKey)).toBe(PETER_VKEY);
    expect(formatVerifierKey(enoch.keyName, enoch.publicKey)).toBe(ENOCH_VKEY);
  });

  it('refuses every substring and every one-character change of a verifier key', () => {
    for (let i = 0; i <= PETER_VKEY.length; i++)
      for (let j = i + 1; j <= PETER_VKEY.length; j++)
        if (i !== 0 || j !== PETER_VKEY.length)
          expect(code(() => parseVerifierKey(PETER_VKEY.slice(i, j)))).toBe(
            'tlog/bad-verifier-key',
          );
    for (let i = 0; i < PETER_VKEY.length; i++) {
      const changed = `${PETER_VKEY.slice(0, i)}${String.fromCharCode(PETER_VKEY.charCodeAt(i) + 1)}${PETER_VKEY.slice(i + 1)}`;
      expect(code(() => parseVerifierKey(changed))).toBe('tlog/bad-verifier-key');
    }
    // Wrong key length, unknown algorithm (each with a matching key id).
    for (const bad of [
      'PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==',
      'PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW',
    ])
      expect(code(() => parseVerifierKey(bad))).toBe('tlog/bad-verifier-key');
  });

  it('signs exactly as the reference', () => {
    const want = `${TEXT}\n${PETER_SIG}`;
    expect(signNote(TEXT, peterKey, 'PeterNeumann')).toBe(want);
    // An existing signature by the same key is replaced.
    const stale = { keyName: 'PeterNeumann', keyId: 0xc74f20a3, signature: utf8('BADSIGN') };
    expect(signNote({ text: TEXT, signatures: [stale] }, peterKey, 'PeterNeumann')).toBe(want);
    expect(code(() => signNote('abc', peterKey, 'PeterNeumann'))).toBe('tlog/bad-note');
    expect(code(() => signNote(TEXT, peterKey, 'a+b'))).toBe('tlog/bad-note');
    expect(code(() => signNote(TEXT, peterKey, 'bad name'))).toBe('tlog/bad-note');
  });

  it('opens notes as the reference: unknown keys ignored, known keys checked', () => {
    const both = `${TEXT}\n${PETER_SIG}${ENOCH_SIG}`;
    const one = verifyNote(both, [peter]);
    expect(one.text).toBe(TEXT);
    expect(one.verified.map((s) => s.keyName)).toEqual(['PeterNeumann']);
    expect(one.unknown.map((s) => [s.keyName, s.keyId])).toEqual([['EnochRoot', 0xaf0cfe78]]);
    const two = verifyNote(both, [peter, enoch]);
    expect(two.verified.map((s) => s.keyName)).toEqual(['PeterNeumann', 'EnochRoot']);
    expect(two.unknown).toEqual([]);
    expect(code(() => verifyNote(both, []))).toBe('tlog/unverified-note');
    // The same key listed twice is one key.
    expect(verifyNote(`${TEXT}\n${PETER_SIG}`, [enoch, peter, enoch]).verified).toHaveLength(1);

    expect(code(() => verifyNote(`${TEXT}\n${PETER_SIG.repeat(101)}`, [peter]))).toBe(
      'tlog/bad-note',
    );
    expect(code(() => verifyNote(`${TEXT}\n${PETER_SIG.repeat(101)}`, []))).toBe('tlog/bad-note');
    const forged = `${TEXT}\n— PeterNeumann ${corrupt(PETER_B64)}\n`;
    expect(code(() => verifyNote(forged, [peter]))).toBe('tlog/bad-signature');

    // Repeated signatures count once; identical unknown ones are listed once.
    const enochAbcd = `— EnochRoot ${corrupt(ENOCH_B64)}\n`;
    const repeated = verifyNote(
      `${TEXT}\n${PETER_SIG}${PETER_SIG}${ENOCH_SIG}${ENOCH_SIG}${enochAbcd}`,
      [peter],
    );
    expect(repeated.verified).toHaveLength(1);
    expect(repeated.unknown).toHaveLength(2);

    // A signature under another name (same id) is unknown, so ignored.
    const misnamed = `${TEXT}\n${PETER_SIG.replace('PeterNeumann', 'CarmenSandiego')}`;
    expect(code(() => verifyNote(misnamed, [peter]))).toBe('tlog/unverified-note');
  });

  it('refuses malformed notes as the reference', () => {
    const bad: (string | Uint8Array)[] = [
      TEXT,
      `${TEXT}\n`,
      `${TEXT}\n${PETER_SIG.slice(0, -1)}`,
      `\x01${TEXT}\n${PETER_SIG}`,
      Uint8Array.from([0xff, ...utf8(`${TEXT}\n${PETER_SIG}`)]),
      `${TEXT}\n— Bad Name ${PETER_B64}`,
      `${TEXT}\n— Bad Name ${PETER_B64}\n`,
      `${TEXT}\n${PETER_SIG}Unexpected line.\n`,
      `${TEXT}\n— PeterNeumann ${PETER_B64.slice(0, -1)}\n`,
      `${TEXT}\n— PeterNeumann AAAAAA==\n`,
      `${TEXT}\n- PeterNeumann ${PETER_B64}\n`,
    ];
    for (const note of bad) expect(code(() => verifyNote(note, [peter]))).toBe('tlog/bad-note');
    expect(verifyNote(utf8(`${TEXT}\n${PETER_SIG}`), [peter]).text).toBe(TEXT);
  });

  it('parses the C2SP signed-note example, whose text holds a blank line', () => {
    const note =
      'Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n\n' +
      '— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n';
    const parsed = parseSignedNote(note);
    expect(parsed.text).toBe(
      'Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n',
    );
    expect(parsed.signatures).toHaveLength(1);
    expect(parsed.signatures[0]!.keyName).toBe('quasimodo.example/salvatore');
    expect(parsed.signatures[0]!.signature).toHaveLength(64);
    expect(formatSignedNote(parsed)).toBe(note);
  });
});

describe('checkpoints', () => {
  const logKey = KeyPair.fromSecretKey(new Uint8Array(32).fill(7));
  const otherKey = KeyPair.fromSecretKey(new Uint8Array(32).fill(8));
  const origin = poolOrigin('pool-a');
  const hashes = leafHashes(5, 3);
  const rootHash = rootFromLeafHashes(hashes);
  const body = formatCheckpoint({ origin, size: 5, rootHash });
  const signed = signCheckpoint(body, logKey, origin);
  const verifier = { keyName: origin, publicKey: logKey.publicKey };

  it('parses the C2SP tlog-checkpoint example', () => {
    const note =
      'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n' +
      '— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n';
    const checkpoint = parseCheckpoint(parseSignedNote(note).text);
    expect(checkpoint.origin).toBe('example.com/behind-the-sofa');
    expect(checkpoint.size).toBe(20852163);
    expect(base64.encode(checkpoint.rootHash)).toBe('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=');
    expect(checkpoint.extensions).toEqual([]);
  });

  it('round-trips, with extension lines', () => {
    expect(body).toBe(`diagon.dev/pool/pool-a\n5\n${base64.encode(rootHash)}\n`);
    const got = verifyCheckpoint(signed, { ...verifier, origin });
    expect(got).toEqual({ origin, size: 5, rootHash, extensions: [] });
    const withExt = formatCheckpoint({
      origin,
      size: 0,
      rootHash: emptyRoot(),
      extensions: ['x y'],
    });
    expect(verifyCheckpoint(signCheckpoint(withExt, logKey, origin), verifier)).toEqual({
      origin,
      size: 0,
      rootHash: emptyRoot(),
      extensions: ['x y'],
    });
  });

  it('refuses a tampered origin, size, root hash or signature', () => {
    const tampered = [
      signed.replace('pool-a', 'pool-b'),
      signed.replace('\n5\n', '\n6\n'),
      signed.replace(base64.encode(rootHash), base64.encode(flipBit(rootHash, 9))),
    ];
    for (const note of tampered)
      expect(reason(() => verifyCheckpoint(note, verifier))).toBe('bad-signature');
    const sig = signed.slice(signed.lastIndexOf(' ') + 1, -1);
    const flipped = base64.encode(flipBit(base64.decode(sig), 100));
    expect(reason(() => verifyCheckpoint(signed.replace(sig, flipped), verifier))).toBe(
      'bad-signature',
    );
    // A changed key id makes the signature someone else's: no known signature is left.
    const otherId = base64.encode(flipBit(base64.decode(sig), 0));
    expect(reason(() => verifyCheckpoint(signed.replace(sig, otherId), verifier))).toBe(
      'unverified',
    );
    expect(code(() => verifyCheckpoint(signed.replace('\n\n', '\n'), verifier))).toBe(
      'tlog/bad-checkpoint',
    );
  });

  it('refuses a wrong key, a wrong key name and a wrong origin', () => {
    expect(
      reason(() => verifyCheckpoint(signed, { ...verifier, publicKey: otherKey.publicKey })),
    ).toBe('unverified');
    expect(reason(() => verifyCheckpoint(signed, { ...verifier, keyName: 'someone' }))).toBe(
      'unverified',
    );
    expect(
      reason(() => verifyCheckpoint(signed, { ...verifier, origin: poolOrigin('pool-b') })),
    ).toBe('wrong-origin');
    // The origin's key signing a checkpoint of another origin is still the wrong origin.
    const foreign = signCheckpoint(
      formatCheckpoint({ origin: poolOrigin('pool-b'), size: 5, rootHash }),
      logKey,
      origin,
    );
    expect(reason(() => verifyCheckpoint(foreign, { ...verifier, origin }))).toBe('wrong-origin');
  });

  it('ignores unknown signatures (cosigners, rotated keys), but not a bad known one', () => {
    const cosigned = signNote(parseSignedNote(signed), otherKey, 'witness.example/w1');
    expect(verifyCheckpoint(cosigned, verifier).size).toBe(5);
    // Same name, other key: another key id, so unknown too.
    const sameName = signNote(parseSignedNote(signed), otherKey, origin);
    expect(parseSignedNote(sameName).signatures).toHaveLength(2);
    expect(verifyCheckpoint(sameName, verifier).size).toBe(5);
    // Only unknown signatures: refused.
    const onlyOther = signCheckpoint(body, otherKey, 'witness.example/w1');
    expect(reason(() => verifyCheckpoint(onlyOther, verifier))).toBe('unverified');
    // A second, invalid signature by the known key: refused.
    const good = parseSignedNote(signed).signatures[0]!;
    const badCopy = { ...good, signature: flipBit(good.signature, 1) };
    const twice = formatSignedNote({ text: body, signatures: [good, badCopy] });
    expect(reason(() => verifyCheckpoint(twice, verifier))).toBe('bad-signature');
  });

  it('refuses malformed checkpoint bodies', () => {
    const b64 = base64.encode(rootHash);
    const bodies = [
      `${origin}\n5\n`,
      `\n5\n${b64}\n`,
      `${origin}\n05\n${b64}\n`,
      `${origin}\n-1\n${b64}\n`,
      `${origin}\n9007199254740992\n${b64}\n`,
      `${origin}\n5\n${b64.slice(0, -1)}\n`,
      `${origin}\n5\n${base64.encode(rootHash.subarray(1))}\n`,
      `${origin}\n5\n${b64}`,
    ];
    for (const text of bodies) {
      expect(reason(() => parseCheckpoint(text))).toBe('malformed-body');
      expect(code(() => signCheckpoint(text, logKey, origin))).toBe('tlog/bad-checkpoint');
    }
    // Signed anyway (as a plain note), it is still refused on verification.
    const signedBad = signNote(`${origin}\n05\n${b64}\n`, logKey, origin);
    expect(reason(() => verifyCheckpoint(signedBad, verifier))).toBe('malformed-body');
    expect(code(() => formatCheckpoint({ origin: 'a b', size: 1, rootHash }))).toBe(
      'tlog/bad-checkpoint',
    );
    expect(code(() => formatCheckpoint({ origin, size: 1.5, rootHash }))).toBe(
      'tlog/bad-checkpoint',
    );
    expect(code(() => formatCheckpoint({ origin, size: 1, rootHash, extensions: [''] }))).toBe(
      'tlog/bad-checkpoint',
    );
    expect(code(() => poolOrigin('Pool A'))).toBe('identity/bad-pool');
  });
});

describe('leaves', () => {
  it('is the tlog-leaf domain prefix, then canonical CBOR of {body, kind}', () => {
    const bytes = encodeLeaf({ kind: 'vote', pool: 'pool-a', body: Uint8Array.of(1) });
    // a2 (map of 2) "body" h'01' "kind" "vote": keys in canonical order.
    expect(toHex(bytes)).toBe(
      `${toHex(utf8('diagon/v1/tlog-leaf/pool-a\0'))}a264626f64794101646b696e6464766f7465`,
    );
  });

  it('differs across pools and kinds, and decodes back', () => {
    const body = { tx: 'abc', t: 7 };
    const seen = new Set<string>();
    for (const pool of ['pool-a', 'pool-b'])
      for (const kind of ['proposal', 'vote', 'certificate', 'commit'] as const) {
        const bytes = encodeLeaf({ kind, pool, body });
        seen.add(toHex(leafHash(bytes)));
        expect(decodeLeaf(bytes)).toEqual({ kind, pool, body });
      }
    expect(seen.size).toBe(8);
  });

  it('refuses what is not a leaf', () => {
    const body = { kind: 'vote', body: 1 };
    expect(code(() => decodeLeaf(signingBytes('vote', 'pool-a', body)))).toBe('tlog/bad-leaf');
    expect(code(() => decodeLeaf(signingBytes('tlog-leaf', 'pool-a', { ...body, x: 1 })))).toBe(
      'tlog/bad-leaf',
    );
    expect(
      code(() => decodeLeaf(signingBytes('tlog-leaf', 'pool-a', { kind: 'other', body: 1 }))),
    ).toBe('tlog/bad-leaf');
    expect(code(() => decodeLeaf(utf8('diagon/v1/tlog-leaf/pool-a')))).toBe('tlog/bad-leaf');
    const truncated = encodeLeaf({ kind: 'commit', pool: 'pool-a', body: 'x' }).slice(0, -1);
    expect(code(() => decodeLeaf(truncated))).toBe('tlog/bad-leaf');
    expect(code(() => encodeLeaf({ kind: 'other' as 'vote', pool: 'pool-a', body: null }))).toBe(
      'tlog/bad-leaf',
    );
    expect(code(() => encodeLeaf({ kind: 'vote', pool: 'Pool', body: null }))).toBe(
      'identity/bad-pool',
    );
  });
});
