/**
 * Every Diagon subject, built from checked tokens so a pool or node name can never add a
 * token or a wildcard by accident. `'*'` is accepted explicitly where a service subscribes
 * across pools, events or nodes (e.g. `subjects.propose('*')`); publishing to it fails.
 */
import { DiagonError } from '../db/errors.js';
import { isPoolName } from '../identity/signing-bytes.js';

export const ANY = '*';

/** A single NATS token safe in every tool: letters, digits, '_' and '-'. */
const SAFE_TOKEN = /^[A-Za-z0-9_-]{1,128}$/;

function pool(name: string): string {
  if (name === ANY || isPoolName(name)) return name;
  throw new DiagonError(
    'bus/bad-subject',
    `${JSON.stringify(name)} is not a pool name: use 1-63 lowercase letters, digits or inner hyphens.`,
    { pool: name },
  );
}

function token(what: string, name: string): string {
  if (name === ANY || SAFE_TOKEN.test(name)) return name;
  throw new DiagonError(
    'bus/bad-subject',
    `${JSON.stringify(name)} is not a valid ${what}: use 1-128 letters, digits, '_' or '-' (no dots).`,
    { [what]: name },
  );
}

/** The JetStream streams Diagon declares: committed transactions, and proposal events. */
export const STREAMS = {
  tx: 'DIAGON_TX',
  governance: 'DIAGON_GOVERNANCE',
  capture: 'DIAGON_CAPTURE',
} as const;

export const subjects = {
  /** Open a governance proposal. */
  propose: (p: string) => `diagon.pool.${pool(p)}.propose`,
  /** Cast a signed vote. */
  vote: (p: string) => `diagon.pool.${pool(p)}.vote`,
  /** Proposal lifecycle events (`opened`, `approved`, …). */
  proposal: (p: string, event: string) =>
    `diagon.pool.${pool(p)}.proposal.${token('event', event)}`,
  txSubmit: (p: string) => `diagon.pool.${pool(p)}.tx.submit`,
  txCommitted: (p: string) => `diagon.pool.${pool(p)}.tx.committed`,
  indexUpdated: (p: string) => `diagon.pool.${pool(p)}.index.updated`,
  query: (p: string) => `diagon.pool.${pool(p)}.q`,
  /** Proposals of a pool, by status. */
  proposals: (p: string) => `diagon.pool.${pool(p)}.proposals`,
  /** Members' trust scores. */
  trust: (p: string) => `diagon.pool.${pool(p)}.trust`,
  /** The governance log: checkpoints, inclusion and consistency proofs, leaves. */
  tlog: (p: string) => `diagon.pool.${pool(p)}.tlog`,
  authVerify: () => 'diagon.auth.verify',
  /** Frames the capture service decoded on `node`. */
  captureFrames: (node: string) => `diagon.capture.${token('node', node)}.frames`,
} as const;
