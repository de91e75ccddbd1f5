import { createHash } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { base32nopad, base64urlnopad } from '@scure/base';
import fc from 'fast-check';
import { base58btc } from 'multiformats/bases/base58';
import { CID } from 'multiformats/cid';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { thrown } from '../../test/support/errors.js';
import { DiagonError } from '../db/errors.js';
import { encodeCanonical } from './cbor.js';
import {
  contentId,
  DAG_CBOR_CODEC,
  parseContentId,
  RAW_CODEC,
  rawContentId,
  SHA2_256_CODE,
} from './content-id.js';
import { didMatchesKey, ED25519_PUB_CODEC, formatDid, isDid, parseDid } from './did.js';
import { publicKeyOf, verify } from './ed25519.js';
import { RFC8032 } from './ed25519-vectors.test-support.js';
import {
  formatKeyFile,
  KEY_FILE_FORMAT,
  loadKeyFile,
  parseKeyFile,
  saveKeyFile,
} from './key-file.js';
import { KeyPair } from './key-pair.js';
import {
  checkPoolName,
  domainPrefix,
  isKindName,
  isPoolName,
  PROTOCOL_VERSION,
  signingBytes,
  verifyValue,
} from './signing-bytes.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const utf8 = (s: string) => new TextEncoder().encode(s);
const seed = (n: number) => {
  const s = new Uint8Array(32);
  s[31] = n;
  return s;
};

async function rejected(p: Promise<unknown>): Promise<DiagonError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(DiagonError);
    return e as DiagonError;
  }
  throw new Error('expected a DiagonError, but the promise resolved');
}

/**
 * The Ed25519 vectors of the did:key method (w3c-ccg/did-method-key,
 * test-vectors/ed25519-x25519.json): seed, DID and publicKeyBase58.
 */
const DID_KEY_VECTORS = [
  {
    seed: seed(0),
    did: 'did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp',
    publicKeyBase58: '4zvwRjXUKGfvwnParsHAS3HuSVzV5cA4McphgmoCtajS',
  },
  {
    seed: seed(1),
    did: 'did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG',
    publicKeyBase58: '6ASf5EcmmEHTgDJ4X4ZT5vT6iHVJBXPg5AN5YoTCpGWt',
  },
  {
    seed: seed(2),
    did: 'did:key:z6MknGc3ocHs3zdPiJbnaaqDi58NGb4pk1Sp9WxWufuXSdxf',
    publicKeyBase58: '8pM1DN3RiT8vbom5u1sNryaNT1nyL8CTTW3b5PwWXRBH',
  },
  {
    seed: seed(3),
    did: 'did:key:z6MkvqoYXQfDDJRv8L4wKzxYeuKyVZBfi9Qo6Ro8MiLH3kDQ',
    publicKeyBase58: 'HPYVwAQmskwT1qEEeRzhoomyfyupJGASQQtCXSNG8XS2',
  },
  {
    seed: seed(4),
    did: 'did:key:z6MkwW6aqMnjgrhJXFUko3NnZPGzVpkNzhYK7yEhnsibmLwL',
    publicKeyBase58: 'J3qYF7YJMKCqQke47UQwiHizgFUXapHxRxKmxbkar89x',
  },
];
/** A secp256k1 did:key (ChainAgnostic multidid, methods/did:key.md). */
const SECP256K1_DID = 'did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme';
/** The X25519 key agreement key of the first vector above, as a did:key. */
const X25519_DID = 'did:key:z6LShs9GGnqk85isEBzzshkuVWrVKsRp24GnDuHk8QWkARMW';

/** A did:key over arbitrary multicodec bytes. */
const didOf = (bytes: Uint8Array) => `did:key:${base58btc.encode(bytes)}`;

describe('did:key', () => {
  it.each(DID_KEY_VECTORS)('$did matches the spec vector', ({ seed, did, publicKeyBase58 }) => {
    const publicKey = base58btc.baseDecode(publicKeyBase58);
    expect(KeyPair.fromSecretKey(seed).did).toBe(did);
    expect(toHex(publicKeyOf(seed))).toBe(toHex(publicKey));
    expect(formatDid(publicKey)).toBe(did);
    expect(toHex(parseDid(did))).toBe(toHex(publicKey));
  });

  it('is z-base58btc of 0xed 0x01 ‖ key, and parses back to the key', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (s) => {
        const publicKey = publicKeyOf(s);
        const did = formatDid(publicKey);
        expect(did).toMatch(/^did:key:z6Mk[1-9A-HJ-NP-Za-km-z]{44}$/);
        expect(toHex(base58btc.decode(did.slice('did:key:'.length)))).toBe(
          `ed01${toHex(publicKey)}`,
        );
        expect(toHex(parseDid(did))).toBe(toHex(publicKey));
        expect(didMatchesKey(did, publicKey)).toBe(true);
      }),
      { numRuns: 50 },
    );
  });

  const good = DID_KEY_VECTORS[0]!.did;
  it.each<[string, string, RegExp]>([
    ['a DID of another method', 'did:web:example.com', /only the did:key method.*did:web/],
    ['no did: scheme', good.slice('did:'.length), /starts with "did:"/],
    ['no multibase prefix', `did:key:${good.slice('did:key:z'.length)}`, /starting with "z"/],
    ['another multibase', 'did:key:fed01', /starting with "z"/],
    ['a character outside base58', `${good.slice(0, -1)}0`, /not valid base58btc/],
    ['an empty identifier', 'did:key:z', /multicodec varint/],
    ['a fragment', `${good}#${good.slice('did:key:'.length)}`, /DID URL/],
    ['a path', `${good}/path`, /DID URL/],
    ['a query', `${good}?service=x`, /DID URL/],
    ['a key one byte short', didOf(hex(`ed01${'11'.repeat(31)}`)), /not 33 bytes/],
    ['a key one byte long', didOf(hex(`ed01${'11'.repeat(33)}`)), /not 35 bytes/],
    ['a non-minimal varint for 0xed', didOf(hex(`ed8100${'11'.repeat(32)}`)), /multicodec varint/],
    ['a huge DID', `did:key:z${'1'.repeat(300)}`, /too long/],
  ])('refuses %s', (_, did, message) => {
    const e = thrown(() => parseDid(did));
    expect(e.code).toBe('identity/bad-did');
    expect(e.message).toMatch(message);
    expect(isDid(did)).toBe(false);
  });

  it.each([
    [SECP256K1_DID, /secp256k1-pub/],
    [X25519_DID, /x25519-pub/],
    [didOf(hex(`00${'11'.repeat(32)}`)), /multicodec 0x0 /],
  ])('refuses %s, a key of another type', (did, message) => {
    const e = thrown(() => parseDid(did));
    expect(e.code).toBe('identity/unsupported-key-type');
    expect(e.message).toMatch(message);
    expect(e.message).toMatch(/only ed25519-pub \(0xed\)/);
  });

  it('refuses a small-order key, both ways', () => {
    const identityPoint = hex(`01${'00'.repeat(31)}`);
    expect(thrown(() => formatDid(identityPoint)).code).toBe('identity/bad-public-key');
    expect(thrown(() => parseDid(didOf(hex(`ed01${toHex(identityPoint)}`)))).code).toBe(
      'identity/bad-public-key',
    );
  });

  it('refuses what is not a string', () => {
    expect(thrown(() => parseDid(42 as unknown as string)).code).toBe('identity/bad-did');
    expect(isDid(undefined)).toBe(false);
    expect(isDid(good)).toBe(true);
  });

  it('binds a DID to its key only', () => {
    const [a, b] = DID_KEY_VECTORS.map((v) => ({ did: v.did, key: parseDid(v.did) }));
    expect(didMatchesKey(a!.did, a!.key)).toBe(true);
    expect(didMatchesKey(a!.did, b!.key)).toBe(false);
    expect(didMatchesKey(a!.did, a!.key.subarray(0, 31))).toBe(false);
    expect(didMatchesKey(a!.did, Array.from(a!.key) as unknown as Uint8Array)).toBe(false);
    expect(didMatchesKey(`${a!.did}#x`, a!.key)).toBe(false);
    expect(didMatchesKey('did:key:z', a!.key)).toBe(false);
    expect(ED25519_PUB_CODEC).toBe(0xed);
  });
});

describe('content ids', () => {
  const sha256 = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest());

  it('are CIDv1, dag-cbor, sha2-256 of the canonical bytes', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.oneof(fc.integer(), fc.string())), (v) => {
        const id = contentId(v);
        expect(id.version).toBe(1);
        expect(id.code).toBe(DAG_CBOR_CODEC);
        expect(id.multihash.code).toBe(SHA2_256_CODE);
        expect(toHex(id.multihash.digest)).toBe(toHex(sha256(encodeCanonical(v))));
        // version 1, codec 0x71, sha2-256 (0x12), 32 bytes (0x20), digest
        expect(toHex(id.bytes)).toBe(`01711220${toHex(sha256(encodeCanonical(v)))}`);
        expect(id.toString()).toBe(`b${base32nopad.encode(id.bytes).toLowerCase()}`);
      }),
      { numRuns: 100 },
    );
  });

  it('match the ecosystem constants for {} and for empty raw bytes', () => {
    expect(contentId({}).toString()).toBe(
      'bafyreigbtj4x7ip5legnfznufuopl4sg4knzc2cof6duas4b3q2fy6swua',
    );
    expect(rawContentId(new Uint8Array(0)).toString()).toBe(
      'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku',
    );
    expect(rawContentId(new Uint8Array(0)).code).toBe(RAW_CODEC);
  });

  it('are equal for equal values and differ for different ones', () => {
    expect(contentId({ a: 1, b: [true, null] }).equals(contentId({ b: [true, null], a: 1 }))).toBe(
      true,
    );
    expect(contentId({ a: 1 }).equals(contentId({ a: 2 }))).toBe(false);
    expect(contentId({ a: 1n }).equals(contentId({ a: 1 }))).toBe(true);
  });

  it('parse back from their string form, as multiformats parses them', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const text = rawContentId(bytes).toString();
        const parsed = parseContentId(text);
        expect(parsed.equals(rawContentId(bytes))).toBe(true);
        expect(CID.parse(text).equals(parsed)).toBe(true);
        expect(parsed.toString()).toBe(text);
      }),
      { numRuns: 100 },
    );
  });

  it.each(['', 'not a cid', 'bafy', 'zzzz'])('refuses %j', (text) => {
    const e = thrown(() => parseContentId(text));
    expect(e.code).toBe('identity/bad-cid');
    expect(e.message).toContain(JSON.stringify(text));
  });
});

describe('key files', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'diagon-key-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const posix = process.platform !== 'win32';

  it.runIf(posix)('are saved with mode 0600 and load back to the same key', async () => {
    const path = join(dir, 'member.key');
    const key = KeyPair.generate();
    await saveKeyFile(path, key);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const loaded = await loadKeyFile(path);
    expect(loaded.did).toBe(key.did);
    expect(toHex(loaded.publicKey)).toBe(toHex(key.publicKey));
    expect(toHex(loaded.exportSecretKey())).toBe(toHex(key.exportSecretKey()));
  });

  it('hold the format, DID, public key and seed as base64url', () => {
    const key = KeyPair.fromSecretKey(hex(RFC8032[0]!.secretKey));
    const file = JSON.parse(formatKeyFile(key));
    expect(file).toEqual({
      format: KEY_FILE_FORMAT,
      did: key.did,
      publicKey: base64urlnopad.encode(hex(RFC8032[0]!.publicKey)),
      secretKey: base64urlnopad.encode(hex(RFC8032[0]!.secretKey)),
    });
    expect(parseKeyFile(formatKeyFile(key)).did).toBe(key.did);
  });

  it('are not overwritten unless asked, and then atomically', async () => {
    const path = join(dir, 'member.key');
    const first = KeyPair.generate();
    const second = KeyPair.generate();
    await saveKeyFile(path, first);
    expect((await rejected(saveKeyFile(path, second))).code).toBe('identity/key-file-exists');
    expect((await loadKeyFile(path)).did).toBe(first.did);
    await saveKeyFile(path, second, { overwrite: true });
    expect((await loadKeyFile(path)).did).toBe(second.did);
    expect(await readdir(dir)).toEqual(['member.key']);
    if (posix) expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it.runIf(posix)(
    'are refused when group or others may read them, saying to chmod 600',
    async () => {
      const path = join(dir, 'member.key');
      await saveKeyFile(path, KeyPair.generate());
      await chmod(path, 0o644);
      const e = await rejected(loadKeyFile(path));
      expect(e.code).toBe('identity/key-file-permissions');
      expect(e.message).toContain('0644');
      expect(e.message).toContain(`chmod 600 ${path}`);
      await chmod(path, 0o640);
      expect((await rejected(loadKeyFile(path))).code).toBe('identity/key-file-permissions');
      await chmod(path, 0o400);
      await expect(loadKeyFile(path)).resolves.toBeInstanceOf(KeyPair);
    },
  );

  it('are refused when missing or not a file', async () => {
    const missing = await rejected(loadKeyFile(join(dir, 'nope.key')));
    expect(missing.code).toBe('identity/key-file-missing');
    expect(missing.message).toMatch(/saveKeyFile/);
    const notFile = await rejected(loadKeyFile(dir));
    expect(notFile.code).toBe('identity/key-file-malformed');
    expect(notFile.message).toMatch(/not a regular file/);
  });

  const valid = () => JSON.parse(formatKeyFile(KeyPair.fromSecretKey(seed(7))));
  const seed31 = base64urlnopad.encode(new Uint8Array(31));
  it.each<[string, () => string, RegExp]>([
    ['invalid JSON', () => '{"format": ', /invalid JSON/],
    ['a JSON array', () => '[]', /not an object/],
    ['JSON null', () => 'null', /not an object/],
    ['another format', () => JSON.stringify({ ...valid(), format: 'pem' }), /"format" must be/],
    [
      'no secret key',
      () => JSON.stringify({ ...valid(), secretKey: undefined }),
      /"secretKey" is missing/,
    ],
    ['a numeric secret key', () => JSON.stringify({ ...valid(), secretKey: 7 }), /not a string/],
    [
      'padded base64',
      () => JSON.stringify({ ...valid(), secretKey: `${valid().secretKey}=` }),
      /base64url/,
    ],
    ['standard base64', () => JSON.stringify({ ...valid(), secretKey: '+/+/' }), /base64url/],
    [
      'a 31-byte secret key',
      () => JSON.stringify({ ...valid(), secretKey: seed31 }),
      /31 bytes, not 32/,
    ],
  ])('are refused with %s', async (_, text, message) => {
    const path = join(dir, 'bad.key');
    await writeFile(path, text(), { mode: 0o600 });
    const e = await rejected(loadKeyFile(path));
    expect(e.code).toBe('identity/key-file-malformed');
    expect(e.message).toContain(path);
    expect(e.message).toMatch(message);
  });

  it('are refused when the DID or public key do not belong to the secret key', async () => {
    const other = KeyPair.fromSecretKey(seed(8));
    for (const edit of [
      { did: other.did },
      { publicKey: base64urlnopad.encode(other.publicKey) },
    ]) {
      const e = thrown(() => parseKeyFile(JSON.stringify({ ...valid(), ...edit }), 'k.json'));
      expect(e.code).toBe('identity/key-file-mismatch');
      expect(e.message).toContain(KeyPair.fromSecretKey(seed(7)).did);
    }
  });

  it('are refused when far too large', async () => {
    const path = join(dir, 'big.key');
    await writeFile(path, ' '.repeat(100_000), { mode: 0o600 });
    expect((await rejected(loadKeyFile(path))).message).toMatch(/too large/);
  });

  it('never show the secret key in JSON or inspect output', async () => {
    const key = KeyPair.fromSecretKey(seed(9));
    const secret = base64urlnopad.encode(seed(9));
    expect(JSON.stringify(key)).toBe(JSON.stringify({ did: key.did }));
    expect(inspect(key, { showHidden: true, depth: 5 })).not.toContain(secret);
    await saveKeyFile(join(dir, 'k'), key);
    expect(await readFile(join(dir, 'k'), 'utf8')).toContain(secret);
  });
});

describe('signing bytes', () => {
  const value = { proposal: 'bafy...', vote: 'yes', n: 3 };

  it('are diagon/v1/<kind>/<pool>\\0 followed by the canonical bytes', () => {
    const bytes = signingBytes('vote', 'alpha', value);
    const prefix = utf8('diagon/v1/vote/alpha\0');
    expect(PROTOCOL_VERSION).toBe(1);
    expect(toHex(bytes.subarray(0, prefix.length))).toBe(toHex(prefix));
    expect(toHex(bytes.subarray(prefix.length))).toBe(toHex(encodeCanonical(value)));
    expect(toHex(domainPrefix('vote', 'alpha'))).toBe(toHex(prefix));
  });

  const kind = fc.stringMatching(/^[a-z][a-z0-9-]{0,31}$/);
  const pool = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/);
  it('have prefixes that are never a prefix of one another', () => {
    fc.assert(
      fc.property(kind, pool, kind, pool, (k1, p1, k2, p2) => {
        fc.pre(k1 !== k2 || p1 !== p2);
        const a = Buffer.from(domainPrefix(k1, p1));
        const b = Buffer.from(domainPrefix(k2, p2));
        const n = Math.min(a.length, b.length);
        expect(a.subarray(0, n).equals(b.subarray(0, n))).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it.each(['Vote', '', '1vote', 'vo/te', 'vo te', 'vote\0', 'v'.repeat(33)])(
    'refuse the kind %j',
    (k) => {
      expect(isKindName(k)).toBe(false);
      expect(thrown(() => signingBytes(k, 'alpha', value)).code).toBe('identity/bad-kind');
    },
  );

  it.each([
    'Alpha',
    '',
    '-alpha',
    'alpha-',
    'al_pha',
    'al/pha',
    'al.pha',
    'al\0pha',
    'a'.repeat(64),
  ])('refuse the pool %j', (p) => {
    expect(isPoolName(p)).toBe(false);
    expect(thrown(() => signingBytes('vote', p, value)).code).toBe('identity/bad-pool');
    expect(thrown(() => checkPoolName(p)).message).toMatch(/1-63 lowercase/);
  });

  it.each(['a', '0', 'pool-1', 'a'.repeat(63)])('accept the pool %j', (p) => {
    expect(isPoolName(p)).toBe(true);
    expect(() => checkPoolName(p)).not.toThrow();
  });

  it('make a signature for one pool or kind worthless in another', () => {
    const key = KeyPair.fromSecretKey(seed(5));
    const other = KeyPair.fromSecretKey(seed(6));
    const signature = key.signValue('vote', 'alpha', value);
    for (const impl of ['noble', 'node'] as const) {
      const ok = (k: string, p: string, v: typeof value, pub = key.publicKey) =>
        verifyValue(signature, k, p, v, pub, { impl });
      expect(ok('vote', 'alpha', value)).toBe(true);
      expect(ok('vote', 'beta', value)).toBe(false);
      expect(ok('proposal', 'alpha', value)).toBe(false);
      expect(ok('vote', 'alpha', { ...value, vote: 'no' })).toBe(false);
      expect(ok('vote', 'alpha', value, other.publicKey)).toBe(false);
    }
    expect(verify(signature, encodeCanonical(value), key.publicKey)).toBe(false);
    expect(thrown(() => verifyValue(signature, 'vote', 'Alpha', value, key.publicKey)).code).toBe(
      'identity/bad-pool',
    );
  });
});

describe('KeyPair', () => {
  it('derives the RFC 8032 public key from the seed', () => {
    for (const v of RFC8032) {
      const key = KeyPair.fromSecretKey(hex(v.secretKey));
      expect(toHex(key.publicKey)).toBe(v.publicKey);
      expect(toHex(key.sign(hex(v.message)))).toBe(v.signature);
      expect(didMatchesKey(key.did, key.publicKey)).toBe(true);
    }
  });

  it('generates distinct keys whose DID names them', () => {
    const a = KeyPair.generate();
    const b = KeyPair.generate();
    expect(a.publicKey).toHaveLength(32);
    expect(a.did).not.toBe(b.did);
    expect(toHex(parseDid(a.did))).toBe(toHex(a.publicKey));
  });

  it('signs identically with noble and node, and verifies either way', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array(),
        (s, message) => {
          const key = KeyPair.fromSecretKey(s);
          const signature = key.sign(message);
          expect(toHex(key.sign(message, { impl: 'node' }))).toBe(toHex(signature));
          expect(verify(signature, message, key.publicKey)).toBe(true);
          expect(verify(signature, message, key.publicKey, { impl: 'node' })).toBe(true);
        },
      ),
      { numRuns: 30 },
    );
  });

  it('keeps its own copy of the secret key', () => {
    const s = seed(10);
    const key = KeyPair.fromSecretKey(s);
    const signature = toHex(key.sign(utf8('m')));
    s.fill(0xff);
    key.exportSecretKey().fill(0xff);
    expect(toHex(key.sign(utf8('m')))).toBe(signature);
    expect(toHex(key.exportSecretKey())).toBe(toHex(seed(10)));
  });

  it.each([new Uint8Array(31), new Uint8Array(33), new Uint8Array(64)])(
    'refuses a secret key of %#',
    (s) => {
      expect(thrown(() => KeyPair.fromSecretKey(s)).code).toBe('identity/bad-secret-key');
    },
  );
});
