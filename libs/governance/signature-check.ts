import type { DiagonError } from '../db/errors.js';
import type { SignedMessage } from '../identity/index.js';

/** One signature a governance value carries, with the error its failure means. */
export interface SignatureCheck extends SignedMessage {
  readonly error: DiagonError;
}
