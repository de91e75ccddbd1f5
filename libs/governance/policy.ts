/**
 * A pool's governance policy and the quorum rule.
 *
 * A proposal passes when strictly more than `num/den` of its voters said yes. The test is
 * `yes × den > voters × num`, in BigInt, so it is exact for every count and threshold: no
 * float ever decides whether 4 of 6 is more than two thirds (it is not).
 */
import { z } from 'zod';
import { checkShape } from './shapes.js';

export type Threshold = { readonly num: number; readonly den: number };

export type Policy = {
  /** The fraction of voters that yes votes must strictly exceed (default 2/3). */
  readonly threshold: Threshold;
  /**
   * True (default): the proposer's signature on the proposal is their yes vote, and the
   * proposer is one of the voters. False: self-votes are refused, and the voters are the
   * members other than the proposer.
   */
  readonly proposerVotes: boolean;
};

export const DEFAULT_POLICY: Policy = Object.freeze({
  threshold: Object.freeze({ num: 2, den: 3 }),
  proposerVotes: true,
});

const positive = z.int().min(1);

const thresholdSchema = z
  .strictObject({ num: positive, den: positive })
  .refine((t) => t.num < t.den, {
    message: 'num must be less than den (a fraction in (0, 1)); 2/3 is { num: 2, den: 3 }',
  });

/** Unknown keys are refused rather than ignored, so a typo cannot fall back to a default. */
const policySchema = z.strictObject({
  threshold: thresholdSchema.default(DEFAULT_POLICY.threshold),
  proposerVotes: z.boolean().default(DEFAULT_POLICY.proposerVotes),
}) satisfies z.ZodType<Policy, unknown>;

/**
 * The policy that `json` (e.g. a pool's stored policy) describes, with defaults for what it
 * leaves out; throws `governance/bad-policy` naming each bad field.
 */
export function parsePolicy(json: unknown): Policy {
  return checkShape(policySchema, json, 'the governance policy', 'governance/bad-policy');
}

/**
 * True when `yes` of `voters` is strictly more than the threshold: `yes × den > voters × num`.
 * An empty voter set never reaches quorum.
 */
export function quorumReached(yes: number, voters: number, threshold: Threshold): boolean {
  return BigInt(yes) * BigInt(threshold.den) > BigInt(voters) * BigInt(threshold.num);
}

/** The fewest yes votes that reach quorum among `voters` (more than `voters` when none can). */
export function yesNeeded(voters: number, threshold: Threshold): number {
  return Number((BigInt(voters) * BigInt(threshold.num)) / BigInt(threshold.den)) + 1;
}

/**
 * True when quorum can no longer be reached: even if every voter who has not said no said
 * yes. Only the no votes matter, so the consensus service can close a proposal early.
 */
export function quorumOutOfReach(no: number, voters: number, threshold: Threshold): boolean {
  return !quorumReached(voters - no, voters, threshold);
}
