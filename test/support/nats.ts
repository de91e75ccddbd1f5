/**
 * A real NATS for tests. Test files share one server, so each uses subjects nobody else
 * does: free-form ones under its random `prefix`, Diagon ones in a `randomPool()`.
 * `DIAGON_TEST_NATS_URL` (else `NATS_URL`) picks the server; default the local one.
 */
import { randomBytes } from 'node:crypto';
import type { Bus, BusLogger } from '../../libs/bus/bus.js';
import { connectNats } from '../../libs/bus/nats-bus.js';

export const TEST_NATS_URL =
  process.env.DIAGON_TEST_NATS_URL ?? process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

export interface TestNats {
  url: string;
  bus: Bus;
  /** A subject prefix of this connection's own, e.g. `test.1f2e3d4c5b6a`. */
  prefix: string;
  close(): Promise<void>;
}

/** A pool name no other test uses: `t-<12 hex digits>`. */
export function randomPool(): string {
  return `t-${randomBytes(6).toString('hex')}`;
}

export async function testNats(
  options: { name?: string; logger?: BusLogger } = {},
): Promise<TestNats> {
  const bus = await connectNats({
    url: TEST_NATS_URL,
    name: options.name ?? 'diagon-test',
    timeoutMs: 3000,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  return {
    url: TEST_NATS_URL,
    bus,
    prefix: `test.${randomBytes(6).toString('hex')}`,
    close: () => bus.close(),
  };
}
