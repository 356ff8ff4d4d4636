/**
 * How the RabbitMQ engine comes back from an outage (stop_app / start_app on a private node): what
 * vanished with it is verified again before it can cut a pooled connection, and the restored
 * subscriptions are spread over the pool instead of all landing on the first connection back.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { Broker } from '../../../server/broker/broker';
import { headers } from '../../../server/codec/frame';
import { RecordingSink } from '../../broker-suite/recording-sink';
import { publish } from '../../broker-suite/requests';
import { freshDestination, waitUntil } from '../../broker-suite/wait';
import { retryUntilDelivered, useRabbitBrokers } from './rabbit-brokers';

describe('RabbitMqBroker after a RabbitMQ outage', function () {
  this.timeout(120_000);
  const rabbit = useRabbitBrokers();
  const startBroker = (poolSize: number) => rabbit.start(poolSize);

  async function outage(broker: Broker): Promise<void> {
    try {
      await rabbit.node.stopApp();
      await waitUntil(() => !broker.ready, () => 'still ready', 20_000);
    } finally {
      await rabbit.node.startApp();
    }
    await waitUntil(() => broker.ready, () => 'not ready again', 20_000);
  }


  it('cancels a subscription to a queue that vanished with the outage without cutting the restored connection', async () => {
    const broker = await startBroker(1);
    const name = `relay-test-transient-${randomBytes(6).toString('hex')}`;
    // A non-durable queue: RabbitMQ drops it when the application stops.
    const declare = await broker.subscribe({ destination: `/queue/${name}`, ack: 'auto', headers: headers({ durable: 'false', exclusive: 'false' }) }, new RecordingSink());
    const existing = new RecordingSink('existing queue');
    await broker.subscribe({ destination: `/amq/queue/${name}`, ack: 'auto', headers: headers() }, existing);
    await declare.close();
    const topic = freshDestination('/topic/');
    const topicSink = new RecordingSink('topic');
    await broker.subscribe({ destination: topic, ack: 'auto', headers: headers() }, topicSink);
    const opened = broker.connectionsOpened;

    await outage(broker);
    await waitUntil(() => existing.cancellations.length === 1, () => 'the vanished queue\'s subscription was not cancelled');
    expect(existing.cancellations[0].code).to.equal('DESTINATION_NOT_ALLOWED');
    await retryUntilDelivered(broker, topic, topicSink, 1);
    for (const body of ['m1', 'm2', 'm3']) await publish(broker, topic, body);
    await topicSink.waitFor(4);
    expect(topicSink.cancellations).to.deep.equal([]);
    expect(broker.connectionsOpened, 'the restored pooled connection was cut again').to.equal(opened + 1);
  });

  it('spreads restored subscriptions over the pool', async () => {
    const broker = await startBroker(2);
    const topics: Array<{ topic: string; sink: RecordingSink }> = [];
    for (let i = 0; i < 10; i++) {
      // amq.fanout: a STOMP subscription of its own (plain topics are bindings on the route queue).
      const topic = freshDestination('/exchange/amq.fanout/');
      const sink = new RecordingSink(`topic ${i}`);
      await broker.subscribe({ destination: topic, ack: 'auto', headers: headers() }, sink);
      topics.push({ topic, sink });
    }
    for (let i = 0; i < 10; i++) {
      await broker.subscribe({ destination: freshDestination('/queue/'), ack: 'client-individual', headers: headers() }, new RecordingSink(`queue ${i}`));
    }

    await outage(broker);
    // 20 subscriptions plus one anchor per pooled connection (anchor.ts); the probe connection, if
    // open, holds only its anchor. One channel per STOMP connection.
    const pooledCounts = async (): Promise<number[]> => {
      const out = await rabbit.node.ctl(['list_channels', 'consumer_count', '--formatter', 'json', '--quiet']);
      const counts = (JSON.parse(out) as Array<{ consumer_count: number }>).map((c) => Number(c.consumer_count));
      return counts.sort((a, b) => a - b).slice(-2);
    };
    const deadline = Date.now() + 20_000;
    let counts = await pooledCounts();
    while (counts.length !== 2 || counts[0] + counts[1] !== 22) {
      if (Date.now() > deadline) throw new Error(`consumers per connection: ${counts.join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      counts = await pooledCounts();
    }
    expect(counts).to.deep.equal([11, 11]);
    // And they all work again.
    for (const { topic, sink } of topics) await retryUntilDelivered(broker, topic, sink, 1);
  });
});
