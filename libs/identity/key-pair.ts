/**
 * A key pair: an Ed25519 secret key with its public key and DID. The secret stays in a
 * private field, so it never shows up in logs, `JSON.stringify` or `util.inspect`; take it
 * out explicitly with `exportSecretKey()` (the key file does).
 */
import type { KeyObject } from 'node:crypto';
import type { CanonicalValue } from './cbor.js';
import { formatDid } from './did.js';
import {
  generateSecretKey,
  nodePrivateKey,
  publicKeyOf,
  type SignOptions,
  sign,
} from './ed25519.js';
import { signingBytes } from './signing-bytes.js';

export class KeyPair {
  readonly publicKey: Uint8Array;
  readonly did: string;
  readonly #secretKey: Uint8Array;
  #nodeKey: KeyObject | undefined;

  private constructor(secretKey: Uint8Array) {
    this.publicKey = publicKeyOf(secretKey);
    this.#secretKey = Uint8Array.from(secretKey);
    this.did = formatDid(this.publicKey);
  }

  /** A new random key pair. */
  static generate(): KeyPair {
    return new KeyPair(generateSecretKey());
  }

  /** The key pair of a 32-byte RFC 8032 secret key (seed); throws `identity/bad-secret-key`. */
  static fromSecretKey(secretKey: Uint8Array): KeyPair {
    return new KeyPair(secretKey);
  }

  /** A copy of the 32-byte secret key. */
  exportSecretKey(): Uint8Array {
    return Uint8Array.from(this.#secretKey);
  }

  /** The signature of raw bytes (prefer `signValue`, which separates domains). */
  sign(message: Uint8Array, opts: SignOptions = {}): Uint8Array {
    if (opts.impl !== 'node') return sign(message, this.#secretKey);
    this.#nodeKey ??= nodePrivateKey(this.#secretKey);
    return sign(message, this.#nodeKey);
  }

  /** The signature of `value` as a message of `kind` in `pool` (see `signingBytes`). */
  signValue(kind: string, pool: string, value: CanonicalValue, opts: SignOptions = {}): Uint8Array {
    return this.sign(signingBytes(kind, pool, value), opts);
  }

  toJSON(): { did: string } {
    return { did: this.did };
  }
}
