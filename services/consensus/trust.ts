/**
 * Trust per member: starts neutral, rises when the member's proposal commits and when the
 * member voted on the winning side, falls otherwise, and decays towards neutral with a
 * half-life: the stored score s at time u is worth neutral + (s − neutral)·2^(−(now − u)/h)
 * at `now`. Scores live in Postgres (`trust`), so every replica reads the same.
 */
import type { ProposalRecord, Sql, TxSql, VoteRecord } from '../../libs/storage/index.js';
import { getTrust, setTrust } from '../../libs/storage/index.js';

export interface TrustOptions {
  neutral: number;
  /** Added for a proposal that commits and for each vote on the winning side. */
  gain: number;
  /** Taken for a proposal that fails, is rejected or expires, and for each losing vote. */
  loss: number;
  halfLifeMs: number;
  /** The clock (ms), for tests. */
  now: () => number;
}

export class Trust {
  private readonly o: TrustOptions;

  constructor(
    private readonly sql: Sql,
    opts: Partial<TrustOptions> = {},
  ) {
    this.o = {
      neutral: 0.5,
      gain: 0.05,
      loss: 0.05,
      halfLifeMs: 30 * 24 * 3600_000,
      now: () => Date.now(),
      ...opts,
    };
  }

  /** A stored score decayed to now. */
  decayed(score: number, updatedAt: Date): number {
    const age = Math.max(0, this.o.now() - updatedAt.getTime());
    return this.o.neutral + (score - this.o.neutral) * 2 ** (-age / this.o.halfLifeMs);
  }

  async scores(
    pool: string,
    sql: Sql | TxSql = this.sql,
  ): Promise<{ did: string; trust: number }[]> {
    return (await getTrust(sql, pool)).map((t) => ({
      did: t.did,
      trust: this.decayed(t.score, t.updatedAt),
    }));
  }

  async of(pool: string, did: string): Promise<number> {
    return (await this.scores(pool)).find((s) => s.did === did)?.trust ?? this.o.neutral;
  }

  /**
   * Moves the scores of the proposer and the voters once a proposal is decided: in its own
   * transaction, or inside the caller's (`tx`) so the scores commit with the decision.
   */
  async settle(
    pool: string,
    p: ProposalRecord,
    votes: VoteRecord[],
    passed: boolean,
    tx?: TxSql,
  ): Promise<void> {
    const current = new Map((await this.scores(pool, tx)).map((s) => [s.did, s.trust]));
    const now = new Date(this.o.now());
    const move = (did: string, up: boolean) => {
      const before = current.get(did) ?? this.o.neutral;
      const score = Math.min(1, Math.max(0, before + (up ? this.o.gain : -this.o.loss)));
      current.set(did, score);
      return { did, score, updatedAt: now };
    };
    // Computed in order (a voter may also be the proposer), then written in one pipeline.
    const rows = [
      move(p.proposer, passed),
      ...votes.map((v) => move(v.voter, v.support === passed)),
    ];
    const last = new Map(rows.map((r) => [r.did, r]));
    const write = (t: TxSql) => Promise.all([...last.values()].map((r) => setTrust(t, pool, r)));
    await (tx === undefined ? this.sql.begin(write) : write(tx));
  }
}
