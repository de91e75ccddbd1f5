/**
 * Ed25519 verification on worker threads, for a server whose one thread also does other
 * work (the transactor applies transactions while its certificates are checked). Each call
 * sends its batch to the least busy worker in one message. Rules 1–3 of the strict policy
 * (cheap, and their key checks are cached here) run on the caller's thread; the workers run
 * OpenSSL's equation, as `verifyFast` does, so the answers are those of `verify`.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { DiagonError } from '../db/errors.js';
import { passesStrictChecks, spkiOf } from './ed25519.js';

/** The thread's code: plain JavaScript, so it runs the same from the sources and the build. */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createPublicKey, verify } = require('node:crypto');
const keys = new Map();
parentPort.on('message', ({ id, items }) => {
  const ok = items.map(({ signature, message, spki }) => {
    const k = Buffer.from(spki).toString('latin1');
    let key = keys.get(k);
    if (key === undefined) {
      if (keys.size >= 10000) keys.clear();
      key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
      keys.set(k, key);
    }
    return verify(null, message, key, signature);
  });
  parentPort.postMessage({ id, ok });
});
`;

export interface SignedMessage {
  readonly signature: Uint8Array;
  readonly message: Uint8Array;
  readonly publicKey: Uint8Array;
}

interface Pending {
  resolve(ok: boolean[]): void;
  reject(e: Error): void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
  dead: boolean;
}

export interface VerifierPoolOptions {
  /** Worker threads (default: available parallelism less one, at least one). */
  threads?: number;
}

export class VerifierPool {
  private readonly slots: Slot[];
  private nextId = 0;
  private closed = false;

  constructor(opts: VerifierPoolOptions = {}) {
    const threads = opts.threads ?? Math.max(1, availableParallelism() - 1);
    this.slots = Array.from({ length: threads }, () => this.startWorker());
  }

  get threads(): number {
    return this.slots.length;
  }

  private startWorker(): Slot {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref();
    const slot: Slot = { worker, pending: new Map(), dead: false };
    worker.on('message', ({ id, ok }: { id: number; ok: boolean[] }) => {
      const p = slot.pending.get(id);
      slot.pending.delete(id);
      p?.resolve(ok);
    });
    // A thread that failed or exited answers nothing more: its callers get the error and a
    // new thread takes its place.
    const fail = (e: Error) => {
      if (slot.dead) return;
      slot.dead = true;
      for (const p of slot.pending.values()) p.reject(e);
      slot.pending.clear();
      if (!this.closed) this.slots[this.slots.indexOf(slot)] = this.startWorker();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (!this.closed)
        fail(new DiagonError('identity/verifier-exit', `a verifier thread exited (${code})`));
    });
    return slot;
  }

  /** Whether each signature is valid, in order. */
  verify(batch: readonly SignedMessage[]): Promise<boolean[]> {
    if (this.closed)
      return Promise.reject(new DiagonError('identity/verifier-closed', 'the pool is closed'));
    if (batch.length === 0) return Promise.resolve([]);
    const strict = batch.map((b) => passesStrictChecks(b.signature, b.message, b.publicKey));
    const items = batch
      .filter((_, i) => strict[i])
      .map((b) => ({ signature: b.signature, message: b.message, spki: spkiOf(b.publicKey) }));
    if (items.length === 0) return Promise.resolve(strict);
    let slot = this.slots[0]!;
    for (const s of this.slots) if (s.pending.size < slot.pending.size) slot = s;
    const id = this.nextId++;
    return new Promise<boolean[]>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ id, items });
    }).then((ok) => {
      let j = 0;
      return strict.map((passed) => passed && ok[j++]!);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
