/**
 * What the RabbitMQ engine adds over the shared contract: a bounded connection pool, one broker
 * subscription shared by local subscribers of a topic, recovery from RabbitMQ outages, and
 * several relay instances on one RabbitMQ. Runs against a private node (test/harness/rabbitmq.ts).
 */
import { expect } from 'chai';
import type { Broker, Consumer } from '../../../server/broker/broker';
import { RabbitMqBroker } from '../../../server/broker/rabbitmq';
import { headers } from '../../../server/codec/frame';
import { RecordingSink } from '../../broker-suite/recording-sink';
import { expectRelayError, freshDestination, waitUntil } from '../../broker-suite/wait';
import { waitFor } from '../../harness/stomp-test-kit';
import { retryUntilDelivered, useRabbitBrokers } from './rabbit-brokers';

describe('RabbitMqBroker on a real RabbitMQ', function () {
  this.timeout(90_000);
  // Broker heart-beats on: these tests also cover a connection's liveness checks.
  const rabbit = useRabbitBrokers({ heartbeatMs: 2000 });
  const startBroker = (poolSize = 4) => rabbit.start(poolSize);

  const subscribe = (broker: Broker, destination: string, sink: RecordingSink, ack: 'auto' | 'client-individual' = 'auto'): Promise<Consumer> =>
    broker.subscribe({ destination, ack, headers: headers() }, sink);
  const publish = (broker: Broker, destination: string, body: string): Promise<void> =>
    broker.publish({ destination, headers: headers(), body: Buffer.from(body) }, { confirm: true });

  async function waitReady(broker: Broker, ready: boolean, timeoutMs = 20_000): Promise<void> {
    await waitUntil(() => broker.ready === ready, () => `ready stayed ${broker.ready}`, timeoutMs);
  }

  it('keeps 500 consumers on at most pool-size connections', async () => {
    const broker = await startBroker(4);
    const sinks: RecordingSink[] = [];
    const topics: string[] = [];
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(Array.from({ length: 50 }, () => {
        const topic = freshDestination('/topic/');
        const sink = new RecordingSink(topic);
        topics.push(topic);
        sinks.push(sink);
        return subscribe(broker, topic, sink);
      }));
    }
    const connections = await rabbit.node.listConnections();
    expect(connections.length).to.be.within(1, 4);
    expect(broker.openConnections).to.equal(4);
    // The last one and the first one both still receive.
    await publish(broker, topics[0], 'first');
    await publish(broker, topics[499], 'last');
    await sinks[0].waitFor(1);
    await sinks[499].waitFor(1);
  });

  it('serves 50 local subscribers of one topic from one binding on the route queue, one Delivery object for all', async () => {
    const broker = await startBroker(2);
    const topic = freshDestination('/topic/');
    const key = topic.slice('/topic/'.length);
    const queuesBefore = (await rabbit.node.listQueues()).length;
    const sinks = Array.from({ length: 50 }, (_, i) => new RecordingSink(`s${i}`));
    const consumers = await Promise.all(sinks.map((sink) => subscribe(broker, topic, sink)));
    // No queue of its own: one binding of amq.topic to this instance's route queue.
    expect((await rabbit.node.listQueues()).length).to.equal(queuesBefore);
    const bindings = (await rabbit.node.listBindings()).filter((b) => b.routingKey === key);
    expect(bindings).to.deep.equal([{ exchange: 'amq.topic', queue: broker.routeQueue, routingKey: key }]);

    await publish(broker, topic, 'to everyone');
    const deliveries = await Promise.all(sinks.map(async (sink) => (await sink.waitFor(1))[0]));
    for (const delivery of deliveries) expect(delivery).to.equal(deliveries[0]);

    await Promise.all(consumers.map((c) => c.close()));
    expect((await rabbit.node.listBindings()).filter((b) => b.routingKey === key)).to.deep.equal([]);
  });

  it('leaves no queue or binding behind for auto-ack topic subscriptions once they close', async () => {
    const broker = await startBroker(2);
    const topic = freshDestination('/topic/');
    const key = topic.slice('/topic/'.length);
    const consumers = [
      await subscribe(broker, topic, new RecordingSink()),
      await subscribe(broker, `${topic}.other`, new RecordingSink()),
      // With a header it is a STOMP subscription with a queue of its own.
      await broker.subscribe({ destination: topic, ack: 'auto', headers: headers({ selector: "x = 'y'" }) }, new RecordingSink()),
    ];
    const during = await rabbit.node.listQueues();
    const own = during.filter((q) => q.name.startsWith('stomp-relay.') && !q.name.startsWith('stomp-relay.routes.'));
    expect(own.length).to.equal(1);
    expect(own.every((q) => !q.durable && q.autoDelete)).to.equal(true);
    await Promise.all(consumers.map((c) => c.close()));
    expect((await rabbit.node.listBindings()).filter((b) => b.routingKey.startsWith(key))).to.deep.equal([]);
    // Looked at while the engine's connections stay open: an auto-delete queue also goes with its
    // connection, so only now can its absence tell that UNSUBSCRIBE was sent.
    expect(broker.openConnections).to.equal(2);
    await waitFor(async () => !(await rabbit.node.listQueues()).some((q) => q.name === own[0].name), `queue ${own[0].name} to go on UNSUBSCRIBE`, 20_000);
    expect((await rabbit.node.listConnections()).length, 'the engine\'s connections are still open').to.be.at.least(2);
    await broker.stop();
    const after = await rabbit.node.listQueues();
    // The route queue outlives its instance by ROUTE_QUEUE_TTL_MS (x-expires), by design.
    const leftovers = after.filter((q) => (q.name.startsWith('stomp-relay.') && !q.name.startsWith('stomp-relay.routes.')) || q.name.startsWith('stomp-subscription-'));
    expect(leftovers, JSON.stringify(leftovers)).to.deep.equal([]);
  });

  it('delivers each queue message once across two relay instances (competing consumers)', async () => {
    const [a, b] = [await startBroker(2), await startBroker(2)];
    const queue = freshDestination('/queue/');
    const [sinkA, sinkB] = [new RecordingSink('a'), new RecordingSink('b')];
    await subscribe(a, queue, sinkA);
    await subscribe(b, queue, sinkB);
    const bodies = Array.from({ length: 40 }, (_, i) => `m${i}`);
    for (const body of bodies) await publish(i2(body) ? a : b, queue, body);
    await waitUntil(() => sinkA.deliveries.length + sinkB.deliveries.length >= 40, () => `${sinkA.deliveries.length}+${sinkB.deliveries.length}`);
    const all = [...sinkA.bodies(), ...sinkB.bodies()];
    expect(all.sort()).to.deep.equal([...bodies].sort());
    expect(sinkA.deliveries.length).to.be.greaterThan(0);
    expect(sinkB.deliveries.length).to.be.greaterThan(0);

    function i2(body: string): boolean { return Number(body.slice(1)) % 2 === 0; }
  });

  it('survives a RabbitMQ outage: not ready meanwhile, then the same consumers receive again', async () => {
    const broker = await startBroker(2);
    const transitions: boolean[] = [];
    broker.onReadyChange((ready) => transitions.push(ready));
    const topic = freshDestination('/topic/');
    const queue = freshDestination('/queue/');
    const topicSink = new RecordingSink('topic');
    const queueSink = new RecordingSink('queue');
    const ackSink = new RecordingSink('client-ack');
    const ackQueue = freshDestination('/queue/');
    await subscribe(broker, topic, topicSink);
    await subscribe(broker, queue, queueSink);
    const ackConsumer = await subscribe(broker, ackQueue, ackSink, 'client-individual');
    await publish(broker, topic, 'before');
    // persistent: stop_app restarts the queue, and only persistent messages survive that.
    await broker.publish({ destination: ackQueue, headers: headers({ persistent: 'true' }), body: Buffer.from('unacked') }, { confirm: true });
    await topicSink.waitFor(1);
    const [unacked] = await ackSink.waitFor(1);

    try {
      await rabbit.node.stopApp();
      await waitReady(broker, false);
      await expectRelayError(publish(broker, topic, 'lost?'), 'BROKER_UNAVAILABLE');
      await expectRelayError(subscribe(broker, topic, new RecordingSink()), 'BROKER_UNAVAILABLE');
    } finally {
      await rabbit.node.startApp();
    }
    await waitReady(broker, true);
    // Ready means one connection is up; consumers are restored right after, hence the retrying publish.
    await retryUntilDelivered(broker, topic, topicSink, 2);
    await publish(broker, queue, 'after');
    await queueSink.waitFor(1);
    expect(queueSink.bodies()).to.deep.equal(['after']);
    // The unacked message came back (RabbitMQ requeued it) and its old ack id is void.
    const [, again] = await ackSink.waitFor(2);
    expect(again.message.body.toString()).to.equal('unacked');
    expect(again.message.headers.redelivered).to.equal('true');
    expect(ackConsumer.ack(unacked.ackId as string)).to.equal(false);
    expect(ackConsumer.ack(again.ackId as string)).to.equal(true);
    expect(transitions).to.deep.equal([false, true]);
    expect(topicSink.cancellations).to.deep.equal([]);
  });

  it('starts while RabbitMQ is down, becomes ready when it comes up, then works', async () => {
    await rabbit.node.stopApp();
    let broker: RabbitMqBroker;
    try {
      broker = await startBroker(2);
      expect(broker.ready).to.equal(false);
      await expectRelayError(publish(broker, '/topic/x', 'nope'), 'BROKER_UNAVAILABLE');
    } finally {
      await rabbit.node.startApp();
    }
    await waitReady(broker, true);
    const topic = freshDestination('/topic/');
    const sink = new RecordingSink();
    await subscribe(broker, topic, sink);
    await publish(broker, topic, 'hello');
    expect((await sink.waitFor(1)).map((d) => d.message.body.toString())).to.deep.equal(['hello']);
  });

  it('cancels a consumer RabbitMQ refuses, with DESTINATION_NOT_ALLOWED, and keeps serving the others', async () => {
    const broker = await startBroker(1);
    const topic = freshDestination('/topic/');
    const sink = new RecordingSink();
    await subscribe(broker, topic, sink);
    const opened = broker.connectionsOpened;
    await expectRelayError(subscribe(broker, `/amq/queue/missing-${Date.now()}`, new RecordingSink()), 'DESTINATION_NOT_ALLOWED');
    // Refused on the probe connection (RabbitMQ closes the connection after such an ERROR): the
    // shared connection and the topic consumer on it never noticed.
    await publish(broker, topic, 'after');
    await sink.waitFor(1);
    expect(broker.connectionsOpened).to.equal(opened);
  });

  it('dead-letters a message NACKed with { requeue: false } when its queue has a dead-letter exchange', async () => {
    const broker = await startBroker(1);
    const deadLetters = freshDestination('/topic/');
    const dead = new RecordingSink('dead letters');
    await subscribe(broker, deadLetters, dead);
    const queue = freshDestination('/queue/');
    const queueArgs = headers({ 'x-dead-letter-exchange': 'amq.topic', 'x-dead-letter-routing-key': deadLetters.slice('/topic/'.length) });
    const sink = new RecordingSink('worker');
    const consumer = await broker.subscribe({ destination: queue, ack: 'client-individual', headers: queueArgs }, sink);
    await broker.publish({ destination: queue, headers: queueArgs, body: Buffer.from('poison') }, { confirm: true });
    const [poison] = await sink.waitFor(1);

    expect(consumer.nack(poison.ackId as string, { requeue: false })).to.equal(true);

    const [letter] = await dead.waitFor(1);
    expect(letter.message.body.toString()).to.equal('poison');
    expect(sink.deliveries, 'not requeued to the worker').to.have.length(1);
  });

});
