/**
 * Durable topic subscriptions as RabbitMQ's STOMP plugin defines them (`/topic/x` with an `id`,
 * `durable:true`, `auto-delete:false`), through two relays on a real RabbitMQ, with stock stompjs:
 * kept per user, waiting while the user is away, removed by UNSUBSCRIBE with `durable:true`.
 */
import { expect } from 'chai';
import { sharedRabbitNode, type RabbitNode } from '../../harness/rabbitmq';
import { closeAll, unique, waitFor, wsClient, type TestClient, type TestRelay as Instance } from '../../harness/stomp-test-kit';
import { startInstance } from './cluster-helpers';

describe('durable topic subscriptions (RabbitMQ, stock stompjs)', function () {
  this.timeout(60_000);
  let node: RabbitNode;
  let a: Instance;
  let b: Instance;
  const clients: TestClient[] = [];
  const DURABLE = { id: 'news', durable: 'true', 'auto-delete': 'false', ack: 'client-individual' };

  before(async () => {
    node = await sharedRabbitNode();
    a = await startInstance(node.relayOptions, 'durable-a');
    b = await startInstance(node.relayOptions, 'durable-b');
  });

  afterEach(async () => {
    await closeAll(clients.splice(0));
  });

  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  async function client(instance: Instance, login?: string): Promise<TestClient> {
    const c = await wsClient(instance, login === undefined ? {} : { login });
    clients.push(c);
    return c;
  }

  const durableQueues = async () => (await node.listQueues()).filter((q) => q.name.startsWith('stomp-relay.durable.')).map((q) => q.name);

  it('keeps what is published while alice is away and gives it to her when she comes back; bob with the same id gets none of it', async () => {
    const topic = `/topic/${unique('news')}`;
    const alice = unique('alice');
    const bob = unique('bob');
    const before = new Set(await durableQueues());

    const first = await client(a, alice);
    await first.subscribe(topic, DURABLE);
    await first.close(); // she leaves without UNSUBSCRIBE: the subscription stays

    const publisher = await client(b, unique('publisher'));
    await publisher.publish(topic, 'while you were away');

    // Bob subscribes with the very same id: his own subscription, nothing of hers.
    const bobs = await (await client(a, bob)).subscribe(topic, DURABLE);
    // Alice comes back, on the other instance.
    const back = await (await client(b, alice)).subscribe(topic, DURABLE);
    const kept = await back.messages.next('the message published while alice was away');
    expect(kept.body).to.equal('while you were away');
    kept.ack();

    await publisher.publish(topic, 'live');
    expect((await back.messages.next('the live message at alice')).body).to.equal('live');
    const atBob = await bobs.messages.next('the live message at bob');
    expect(atBob.body).to.equal('live');
    expect(bobs.messages.all.map((m) => m.body), 'bob got nothing of alice\'s').to.deep.equal(['live']);
    const created = (await durableQueues()).filter((name) => !before.has(name));
    expect(created, 'one durable queue each for alice and bob').to.have.length(2);

    // UNSUBSCRIBE with durable:true removes her queue (RabbitMQ semantics); bob's stays.
    back.subscription.unsubscribe({ durable: 'true' });
    await waitFor(async () => (await durableQueues()).filter((name) => !before.has(name)).length === 1, 'alice\'s durable queue to go', 10_000);
    bobs.subscription.unsubscribe({ durable: 'true' });
    await waitFor(async () => (await durableQueues()).filter((name) => !before.has(name)).length === 0, 'bob\'s durable queue to go', 10_000);
  });

  it('refuses a durable topic subscription of an anonymous session with a clear message', async () => {
    const anonymous = await client(a);
    anonymous.client.subscribe(`/topic/${unique('news')}`, () => undefined, DURABLE);
    const error = await anonymous.errors.next('ERROR for the anonymous durable subscription');
    expect(error.headers.code).to.equal('DESTINATION_NOT_ALLOWED');
    expect(error.headers.message).to.contain('anonymous session');
  });
});
