/**
 * The relay on a real three-node RabbitMQ cluster (BROKER_URL lists every node): its broker
 * connections spread over the nodes, and when a node is killed with SIGKILL its connections move
 * to the survivors, where every subscription is restored without the clients noticing.
 */
import { expect } from 'chai';
import { RabbitMqBroker } from '../../../server/broker/rabbitmq';
import { headers } from '../../../server/codec/frame';
import { parseAmqpUrls, parseBrokerUrls } from '../../../server/config';
import { RecordingSink } from '../../broker-suite/recording-sink';
import { freshDestination, waitUntil } from '../../broker-suite/wait';
import { retryUntilDelivered } from '../rabbitmq/rabbit-brokers';
import { closeAll, push, unique, waitFor, wsClient, type TestClient, type TestRelay } from '../../harness/stomp-test-kit';
import { startInstance } from './cluster-helpers';
import { nodeOfConsumer, nodeOfTopicSubscription, ReconnectingPublisher, stompConnectionsPerNode, useRabbitCluster } from './rabbit-cluster-fixture';

describe('the relay on a RabbitMQ cluster (three nodes)', function () {
  this.timeout(120_000);
  const rabbit = useRabbitCluster(3);
  let relay: TestRelay | undefined;
  const clients: TestClient[] = [];
  const publishers: ReconnectingPublisher[] = [];

  afterEach(async () => {
    await closeAll([...clients.splice(0), ...publishers.splice(0)]);
    await relay?.close();
    relay = undefined;
  });

  async function client(login: string): Promise<TestClient> {
    const c = await wsClient(relay!, { login });
    clients.push(c);
    return c;
  }

  function publisher(): ReconnectingPublisher {
    const p = new ReconnectingPublisher(relay!);
    publishers.push(p);
    return p;
  }

  it('spreads its broker connections over the nodes of BROKER_URL', async () => {
    const { cluster } = rabbit;
    relay = await startInstance(cluster.relayOptions, 'cluster-spread', { brokerPoolSize: 4 });
    // Four pooled connections over three nodes: connection i on node i mod 3.
    await waitFor(async () => (await stompConnectionsPerNode(cluster)).reduce((a, b) => a + b) === 4, 'four connections listed');
    expect(await stompConnectionsPerNode(cluster)).to.deep.equal([2, 1, 1]);
  });

  it('restores a topic subscription on a survivor when the node under it is killed', async () => {
    const { cluster } = rabbit;
    relay = await startInstance(cluster.relayOptions, 'cluster-topic');
    const name = unique('news');
    const topic = `/topic/${name}`;
    const subscriber = await client('reader');
    let socketClosed = false;
    void subscriber.closed.then(() => { socketClosed = true; });
    const inbox = (await subscriber.subscribe(topic)).messages;
    const news = publisher();
    expect(await news.publish(topic, 'before')).to.equal(true);
    await inbox.next('the message published before the kill');

    const doomed = await nodeOfTopicSubscription(cluster, name);
    await cluster.kill(doomed);
    expect((await cluster.status()).runningNodes).to.have.members(cluster.running.map((n) => n.nodeName)).and.to.have.length(2);

    // Topics are at-most-once: what is published while the subscription moves is not kept for it,
    // so publish until one arrives. The deadline is generous for a loaded box (target: a few seconds).
    await waitFor(async () => {
      await news.publish(topic, 'after');
      return inbox.all.some((m) => m.body === 'after');
    }, 'a message published after the kill to reach the subscriber', 30_000);
    expect(await nodeOfTopicSubscription(cluster, name)).to.not.equal(doomed);
    expect(socketClosed, 'the subscriber\'s session stayed open').to.equal(false);
    expect(subscriber.errors.all).to.deep.equal([]);
  });

  it('reaches users again within seconds when the node holding the instance\'s route queue is killed: a new queue on a survivor, every route bound again', async () => {
    const { cluster } = rabbit;
    const a = await startInstance(cluster.relayOptions, unique('cluster-users-a'));
    const b = await startInstance(cluster.relayOptions, unique('cluster-users-b'));
    relay = a;
    try {
      const users = Array.from({ length: 20 }, (_, i) => unique(`cu${i}`));
      const inboxes = new Map<string, { all: Array<{ body: string }> }>();
      for (const user of users) {
        const c = await wsClient(a, { login: user });
        clients.push(c);
        inboxes.set(user, (await c.subscribe('/user/queue/n')).messages);
      }
      const routeQueue = (a.relay.broker as RabbitMqBroker).routeQueue!;
      const doomed = await cluster.nodeHostingQueue(routeQueue);
      expect(doomed, 'a running node hosts the route queue').to.not.equal(undefined);
      const killedAt = Date.now();
      await cluster.kill(doomed!);
      // Pushes through B until each user has one: 202 only once A's new queue has the user's route
      // (B's pushes get 503 NOT_DELIVERED or BROKER_UNAVAILABLE meanwhile, never a silent 202).
      await waitFor(async () => {
        for (const user of users) {
          if (inboxes.get(user)!.all.some((m) => m.body === 'after')) continue;
          await push(b, user, { destination: '/queue/n', payload: 'after' });
        }
        return users.every((u) => inboxes.get(u)!.all.some((m) => m.body === 'after'));
      }, 'every user to receive a push after the kill', 60_000);
      // Reported, not asserted (timing is for benchmarks): the target is ≤ 5 s.
      console.log(`      users reachable again ${Date.now() - killedAt} ms after the kill`);
      expect((a.relay.broker as RabbitMqBroker).routeQueue).to.not.equal(routeQueue);
      expect(await cluster.nodeHostingQueue((a.relay.broker as RabbitMqBroker).routeQueue!)).to.not.equal(doomed);
    } finally {
      await b.close();
    }
  });

  it('loses no receipted message of a durable quorum queue with client acks when the node under its consumer is killed', async () => {
    const { cluster } = rabbit;
    relay = await startInstance(cluster.relayOptions, 'cluster-quorum');
    const name = unique('orders');
    const worker = await client('worker');
    let socketClosed = false;
    void worker.closed.then(() => { socketClosed = true; });
    const { messages } = await worker.subscribe(`/queue/${name}`, {
      'x-queue-type': 'quorum', durable: 'true', ack: 'client-individual', 'prefetch-count': '10',
    });
    const received = new Set<number>();
    let draining = true;
    const drained = (async () => {
      while (draining) {
        const m = await messages.next('a message', 1_000).catch(() => undefined);
        if (!m) continue;
        received.add(Number(m.body));
        m.ack();
      }
    })();

    // Two publishers, each on its own session, through the two destinations that reach the queue
    // (so probably through different broker connections); the node under the consumer dies while
    // both are busy (often the quorum queue's leader too).
    const doomed = await nodeOfConsumer(cluster, name);
    const routes: Array<{ orders: ReconnectingPublisher; destination: string; headers: Record<string, string> }> = [
      { orders: publisher(), destination: `/amq/queue/${name}`, headers: { persistent: 'true' } },
      { orders: publisher(), destination: `/queue/${name}`, headers: { persistent: 'true', 'x-queue-type': 'quorum' } },
    ];
    const n = 200;
    const receipted: number[] = [];
    let killing: Promise<void> | undefined;
    let receiptedAfterKill = 0;
    await Promise.all(routes.map(async ({ orders, destination, headers }, r) => {
      for (let i = r; i < n; i += routes.length) {
        if (killing === undefined && receipted.length >= n / 2) killing = cluster.kill(doomed);
        const afterKill = killing !== undefined;
        // The RECEIPT comes once the quorum confirmed the message.
        if (!(await orders.publish(destination, String(i), headers))) continue;
        receipted.push(i);
        if (afterKill) receiptedAfterKill++;
      }
    }));
    await killing;
    try {
      await waitFor(() => receipted.every((i) => received.has(i)), 'every receipted message to arrive', 60_000);
    } finally {
      draining = false;
      await drained;
    }
    expect(receiptedAfterKill, 'publishes after the kill were receipted too').to.be.greaterThan(0);
    expect(socketClosed, 'the worker\'s session stayed open').to.equal(false);
    expect(worker.errors.all).to.deep.equal([]);
  });

  it('cancels the subscription of a classic queue that died with its node, without cutting the connection it was restored to', async () => {
    const { cluster } = rabbit;
    const endpoints = parseBrokerUrls(cluster.brokerUrl);
    const start = async (nodes: typeof endpoints) => {
      const broker = new RabbitMqBroker({ endpoints: nodes, routes: { endpoints: parseAmqpUrls(cluster.amqpUrl) }, poolSize: 1, heartbeatMs: 0, reconnect: { initialMs: 50, maxMs: 500 } });
      await broker.start();
      return broker;
    };
    // A classic durable queue lives on the node that declared it: nodes[0], where the engine's one
    // pooled connection is too.
    const queue = freshDestination('/queue/');
    const declarer = await start([endpoints[0]]);
    await (await declarer.subscribe({ destination: queue, ack: 'auto', headers: headers() }, new RecordingSink())).close();
    await declarer.stop();
    const broker = await start(endpoints);
    try {
      const worker = new RecordingSink('classic queue');
      await broker.subscribe({ destination: queue, ack: 'client-individual', headers: headers() }, worker);
      const topic = freshDestination('/topic/');
      const reader = new RecordingSink('topic');
      await broker.subscribe({ destination: topic, ack: 'auto', headers: headers() }, reader);

      await cluster.kill(0);
      // Restored on nodes[1], where RabbitMQ cannot declare the queue: its home node is down.
      await waitUntil(() => worker.cancellations.length === 1, () => 'the classic queue\'s subscription was not cancelled', 30_000);
      expect(worker.cancellations[0].code).to.equal('DESTINATION_NOT_ALLOWED');
      expect(worker.cancellations[0].message).to.match(/home node .* is down/);
      await retryUntilDelivered(broker, topic, reader, 1);
      expect(reader.cancellations).to.deep.equal([]);
      expect(broker.connectionsOpened, 'the connection was reopened once for the node, and not cut again').to.equal(2);
    } finally {
      await broker.stop();
    }
  });
});
