/**
 * diagon/stm — Clojure's reference types for one event loop: refs changed in `dosync`
 * transactions (MVCC snapshots, retries, validators, watches), atoms, and agents whose
 * dispatches wait for the transaction or action that made them.
 */
export {
  type Action,
  Agent,
  type AgentOptions,
  agent,
  awaitAgents,
  awaitAgentsFor,
  type ErrorHandler,
  type ErrorMode,
  restartAgent,
  send,
  sendOff,
} from './agent.js';
export { Atom, type AtomOptions, atom } from './atom.js';
export {
  alter,
  commute,
  type DosyncOptions,
  dosync,
  ensure,
  inDosync,
  io,
  RETRY_LIMIT,
  refSet,
} from './dosync.js';
export { Ref, type RefOptions, ref } from './ref.js';
export { Reference, type Validator, type Watch } from './reference.js';
