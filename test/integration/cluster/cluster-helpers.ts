/**
 * Several relay instances on one real RabbitMQ node. Clients, waits and HTTP helpers come from
 * the shared kit (test/harness/stomp-test-kit.ts); this adds only what clusters need.
 */
import type { CreateRelayOptions } from '../../../server/relay';
import { startRelay, type TestRelay } from '../../harness/stomp-test-kit';

/** A relay instance on `brokerUrl`, with fast presence so cluster views settle quickly. */
export function startInstance(broker: { brokerUrl: string; brokerAmqpUrl?: string }, instanceId: string, options: CreateRelayOptions = {}): Promise<TestRelay> {
  return startRelay({ ...broker, instanceId, presenceIntervalMs: 200, serveDemo: false, ...options });
}

/** GET /users/:user on `instance`: what its presence knows. */
export async function presenceOf(instance: TestRelay, user: string): Promise<{ sessions: number; instances: Array<{ instanceId: string; sessions: number }> }> {
  return (await fetch(`${instance.http}/users/${encodeURIComponent(user)}`)).json() as Promise<{ sessions: number; instances: Array<{ instanceId: string; sessions: number }> }>;
}

/** HTTP status of /readyz. */
export async function readyStatus(instance: TestRelay): Promise<number> {
  return (await fetch(`${instance.http}/readyz`)).status;
}
