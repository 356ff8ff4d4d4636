/**
 * rx-stomp's documented RPC pattern (https://stomp-js.github.io/guide/rx-stomp/remote-procedure-call.html)
 * through two relays on a real RabbitMQ: the caller subscribes its own exclusive reply queue
 * (`/queue/replies-<uuid>` with `durable:false`, `auto-delete:true`, `exclusive:true`), sends
 * requests with `reply-to` and `correlation-id`, and a responder on another instance SENDs the
 * answers to the `reply-to` it got. Before, the relay refused the SUBSCRIBE and rx-stomp reconnected
 * every 200 ms forever.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { RabbitMqBroker } from '../../../server/broker/rabbitmq';
import { sharedRabbitNode, type RabbitNode } from '../../harness/rabbitmq';
import { closeAll, unique, waitFor, wsClient, type TestClient, type TestRelay as Instance } from '../../harness/stomp-test-kit';
import { startInstance } from './cluster-helpers';

describe('RPC with exclusive reply queues (RabbitMQ, stock stompjs)', function () {
  this.timeout(60_000);
  let node: RabbitNode;
  let a: Instance;
  let b: Instance;
  const clients: TestClient[] = [];
  const REPLY_QUEUE_HEADERS = { durable: 'false', 'auto-delete': 'true', exclusive: 'true' };

  before(async () => {
    node = await sharedRabbitNode();
    // One pooled connection each: anything that cut it would show in the witness.
    a = await startInstance(node.relayOptions, 'rpc-a', { brokerPoolSize: 1 });
    b = await startInstance(node.relayOptions, 'rpc-b', { brokerPoolSize: 1 });
  });

  afterEach(async () => {
    await closeAll(clients.splice(0));
  });

  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  async function client(instance: Instance, login: string): Promise<TestClient> {
    const c = await wsClient(instance, { login });
    clients.push(c);
    return c;
  }

  const pooledOpened = (instance: Instance) => (instance.relay.broker as RabbitMqBroker).connectionsOpened;

  /** A responder on `instance`: answers every request on `service` to its reply-to, echoing correlation-id. */
  async function responder(instance: Instance, service: string): Promise<TestClient> {
    const c = await client(instance, unique('responder'));
    const requests = await c.subscribe(service);
    requests.messages.push = (m) => {
      c.client.publish({
        destination: m.headers['reply-to'],
        body: `echo: ${m.body}`,
        headers: { 'correlation-id': m.headers['correlation-id'] },
      });
    };
    return c;
  }

  it('carries requests and their replies, while a witness on the pooled connections misses nothing', async () => {
    const service = `/topic/${unique('echo')}`;
    const witnessTopic = `/topic/${unique('witness')}`;
    const witness = await (await client(a, unique('witness'))).subscribe(witnessTopic);
    const openedA = pooledOpened(a);
    const openedB = pooledOpened(b);
    await responder(b, service);

    const caller = await client(a, unique('caller'));
    const replyQueue = `/queue/replies-${randomUUID()}`;
    const replies = await caller.subscribe(replyQueue, REPLY_QUEUE_HEADERS);
    const publisher = await client(b, unique('publisher'));
    let sent = 0;
    const correlations: string[] = [];
    for (let i = 0; i < 5; i++) {
      const correlation = randomUUID();
      correlations.push(correlation);
      await caller.publish(service, `request ${i}`, { 'reply-to': replyQueue, 'correlation-id': correlation });
      await publisher.publish(witnessTopic, `w${sent++}`);
    }
    const answers = await replies.messages.take(5, 'the replies');
    expect(answers.map((m) => m.body)).to.deep.equal([0, 1, 2, 3, 4].map((i) => `echo: request ${i}`));
    expect(answers.map((m) => m.headers['correlation-id'])).to.deep.equal(correlations);
    expect(answers.every((m) => m.headers.destination === replyQueue)).to.equal(true);

    // RabbitMQ holds the queue as the exclusive one it is.
    const queue = (await node.listQueues()).find((q) => q.name === replyQueue.slice('/queue/'.length));
    expect(queue).to.include({ exclusive: true, autoDelete: true, durable: false });

    const seen = await witness.messages.take(sent, 'the witness\'s messages');
    expect(seen.map((m) => m.body)).to.deep.equal(Array.from({ length: sent }, (_, i) => `w${i}`));
    expect(pooledOpened(a), 'instance A\'s pooled connection never dropped').to.equal(openedA);
    expect(pooledOpened(b), 'instance B\'s pooled connection never dropped').to.equal(openedB);
    expect(caller.errors.pending + witness.messages.pending).to.equal(0);
  });

  it('refuses a second session the same reply queue, on either instance, and the owner keeps its replies', async () => {
    const service = `/topic/${unique('echo')}`;
    await responder(b, service);
    const caller = await client(a, unique('caller'));
    const replyQueue = `/queue/replies-${randomUUID()}`;
    const replies = await caller.subscribe(replyQueue, REPLY_QUEUE_HEADERS);
    const openedA = pooledOpened(a);

    for (const [instance, headers] of [[a, REPLY_QUEUE_HEADERS], [b, REPLY_QUEUE_HEADERS], [a, {}]] as Array<[Instance, Record<string, string>]>) {
      const mallory = await client(instance, unique('mallory'));
      mallory.client.subscribe(replyQueue, () => undefined, headers);
      const error = await mallory.errors.next('ERROR for the second subscriber');
      expect(error.headers.code).to.equal('DESTINATION_NOT_ALLOWED');
      expect(error.headers.message).to.contain('resource_locked');
      await mallory.closed;
    }

    await caller.publish(service, 'still mine?', { 'reply-to': replyQueue, 'correlation-id': 'c-1' });
    expect((await replies.messages.next('the reply')).body).to.equal('echo: still mine?');
    expect(pooledOpened(a)).to.equal(openedA);
  });

  it('gives the queue up with the caller\'s session: RabbitMQ deletes it, and the session\'s own connection closes', async () => {
    const baseline = (await node.listConnections()).length;
    const caller = await client(a, unique('caller'));
    const replyQueue = `/queue/replies-${randomUUID()}`;
    await caller.subscribe(replyQueue, REPLY_QUEUE_HEADERS);
    // The session's own connection, next to the instances' pooled and probe connections.
    expect((await node.listConnections()).length).to.equal(baseline + 1);
    await caller.close();
    await waitFor(async () => (await node.listConnections()).length === baseline, 'the caller\'s connection to close', 10_000);
    await waitFor(async () => !(await node.listQueues()).some((q) => q.name === replyQueue.slice('/queue/'.length)), 'the reply queue to go', 10_000);
  });
});
