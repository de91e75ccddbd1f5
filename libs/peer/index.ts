/**
 * diagon/peer — a pool's database value read straight from storage and kept current:
 * `Peer.open({sql, pool, bus?, cache?})`, then `peer.db` (newest value), `peer.sync(t)`,
 * `peer.at(t)`, `peer.apply(event)` (for owners feeding their own consumer), `close()`.
 * Queries run on the values with libs/db's `q` and `pull`, unchanged.
 */
export { type CommittedTx, Peer, type PeerOptions, sharedSegmentCache } from './peer.js';
