/**
 * diagon/actor — the actor recipe: a handle over a bounded mailbox (`tell` with
 * backpressure, `tryTell`, `ask` with a timeout) and supervisors that restart crashed
 * children by strategy within a restart intensity, escalating past it.
 */
export {
  Actor,
  type ActorStatus,
  type AskOptions,
  type Behavior,
  type Context,
  type Exit,
  MailboxFull,
  type SpawnOptions,
  type Supervised,
  spawn,
} from './actor.js';
export {
  type Strategy,
  Supervisor,
  type SupervisorOptions,
  type SupervisorStatus,
  supervisor,
} from './supervisor.js';
