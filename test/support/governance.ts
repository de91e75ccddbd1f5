/**
 * Certificates for tests: a proposal by the first key, yes votes by the others (as many
 * as `yes`, default all), encoded as the transactor receives them.
 */
import {
  elaborationHash,
  encodeCertificate,
  makeCertificate,
  signProposal,
  signVote,
} from '../../libs/governance/index.js';
import type { KeyPair } from '../../libs/identity/index.js';

let counter = 0;

export function certify(
  pool: string,
  keys: readonly KeyPair[],
  txData: string,
  opts: { yes?: number; basisT?: number } = {},
): { bytes: Uint8Array; proposal: string } {
  const [proposer, ...others] = keys;
  if (proposer === undefined) throw new Error('certify needs at least one key');
  const proposal = signProposal(proposer, {
    pool,
    kind: 'knowledge',
    txData,
    basisT: opts.basisT ?? 0,
    proposer: proposer.did,
    createdAt: Date.now() - 1000 + (counter++ % 1000), // distinct proposals for equal tx-data
  });
  const votes = others.slice(0, opts.yes ?? others.length).map((k) =>
    signVote(k, {
      pool,
      proposal: proposal.id,
      support: true,
      elaborationHash: elaborationHash('looks right'),
      voter: k.did,
      at: Date.now(),
    }),
  );
  const cert = makeCertificate(
    proposal,
    keys.map((k) => k.did),
    votes,
  );
  return { bytes: encodeCertificate(cert), proposal: proposal.id };
}
