/**
 * UserMessaging's per-user work, which a `POST /push` to many users repeats: an offline user is
 * answered from the engine's non-throwing mandatory publish (Broker.publishMandatory) and one
 * presence lookup, with the same result and metrics as before.
 */
import { expect } from 'chai';
import { MemoryBroker } from '../../../server/broker/memory/memory-broker';
import type { PublishOptions, PublishRequest } from '../../../server/broker/broker';
import { RelayMetrics } from '../../../server/observability/metrics';
import type { ClusterPresence, UserPresence } from '../../../server/user/presence';
import { UserMessaging } from '../../../server/user/user-messaging';

/** Presence from a table, counting lookups. */
function fakePresence(sessions: Record<string, number>): { presence: ClusterPresence; lookups: string[] } {
  const lookups: string[] = [];
  const presence = {
    lookup(user: string): UserPresence {
      lookups.push(user);
      const n = sessions[user] ?? 0;
      return { user, sessions: n, instances: n > 0 ? [{ instanceId: 'i1', sessions: n }] : [] };
    },
  } as unknown as ClusterPresence;
  return { presence, lookups };
}

describe('user: UserMessaging per-user work', function () {
  let broker: MemoryBroker;
  let metrics: RelayMetrics;

  beforeEach(async function () {
    broker = new MemoryBroker({ history: { windowMs: 60_000, maxMessages: 100 } });
    await broker.start();
    metrics = new RelayMetrics({ defaultMetrics: false });
  });

  afterEach(async function () {
    await broker.stop();
  });

  const messagingWith = (presence: ClusterPresence) =>
    new UserMessaging({ broker, presence, metrics, destinationPrefixes: ['/queue/', '/topic/'], routeWaitMs: 1000 });

  it('answers an offline user with one presence lookup and the engine\'s publishMandatory, never a NO_ROUTE rejection', async function () {
    const { presence, lookups } = fakePresence({});
    const published: Array<{ request: PublishRequest; options?: PublishOptions }> = [];
    const publish = broker.publish.bind(broker);
    broker.publish = (request, options) => {
      published.push({ request, options });
      return publish(request, options);
    };
    const messaging = messagingWith(presence);
    const prepared = messaging.prepare('/queue/x', { hello: 1 });

    const result = await messaging.sendPrepared('ann', prepared);

    expect(result).to.deep.equal({ user: 'ann', sessions: 0, instances: [], destination: '/queue/x', routed: false });
    expect(lookups).to.deep.equal(['ann']);
    expect(published, 'went through publishMandatory, not publish').to.deep.equal([]);
    const offline = (await metrics.pushes.get()).values.find((v) => v.labels.outcome === 'offline');
    expect(offline?.value).to.equal(1);
    expect((await metrics.pushLatency.get()).values.find((v) => v.metricName === 'stomp_relay_push_latency_seconds_count')?.value).to.equal(1);
  });

  it('still records an offline user\'s message for resume, and answers a routed user with one presence lookup', async function () {
    const { presence, lookups } = fakePresence({});
    const messaging = messagingWith(presence);
    const prepared = messaging.prepare('/queue/x', 'text');
    await messaging.sendPrepared('ann', prepared);
    const destination = prepared.brokerDestinationOf('ann');
    const replay = await broker.history!.replay(destination, 'm1.unknown.0.0');
    expect(replay.messages.map((m) => m.body.toString())).to.deep.equal(['text']);

    // Now subscribed: routed, looked up once, after the publish.
    const received: string[] = [];
    await broker.subscribe({ destination, ack: 'auto', headers: {} }, { deliver: (d) => received.push(d.message.body.toString()), cancelled: () => undefined });
    lookups.length = 0;
    const result = await messaging.sendPrepared('ann', prepared);
    expect(result.routed).to.equal(true);
    expect(received).to.deep.equal(['text']);
    expect(lookups).to.deep.equal(['ann']);
  });
});
