/**
 * RabbitMqBroker instances on the shared private node for one describe block: started on demand,
 * stopped after each test. Fast reconnects, so outage tests do not wait on production backoff.
 */
import type { Broker } from '../../../server/broker/broker';
import { RabbitMqBroker, type RabbitMqBrokerOptions } from '../../../server/broker/rabbitmq';
import { headers } from '../../../server/codec/frame';
import type { RecordingSink } from '../../broker-suite/recording-sink';
import { parseAmqpUrls, parseBrokerUrl } from '../../../server/config';
import { sharedRabbitNode, type RabbitNode } from '../../harness/rabbitmq';

export interface RabbitBrokers {
  /** The shared node (set in `before`). */
  readonly node: RabbitNode;
  /** A started engine with `poolSize` connections; stopped after the current test. */
  start(poolSize: number, options?: Partial<RabbitMqBrokerOptions>): Promise<RabbitMqBroker>;
}

/** Call inside `describe`: registers the before/afterEach hooks. */
export function useRabbitBrokers(defaults: Partial<RabbitMqBrokerOptions> = {}): RabbitBrokers {
  let node: RabbitNode | undefined;
  const started: RabbitMqBroker[] = [];
  before(async () => {
    node = await sharedRabbitNode();
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((b) => b.stop()));
  });
  return {
    get node(): RabbitNode {
      if (!node) throw new Error('useRabbitBrokers: the node starts in before(); use it inside tests');
      return node;
    },
    async start(poolSize, options = {}) {
      const broker = new RabbitMqBroker({
        endpoint: parseBrokerUrl(this.node.brokerUrl),
        routes: { endpoints: parseAmqpUrls(this.node.amqpUrl) },
        poolSize,
        reconnect: { initialMs: 50, maxMs: 500 },
        heartbeatMs: 0,
        ...defaults,
        ...options,
      });
      started.push(broker);
      await broker.start();
      return broker;
    },
  };
}

/**
 * Publishes to a topic until `sink` holds `count` deliveries: right after a reconnect the engine
 * may still be re-subscribing, and topics keep nothing for absent subscribers.
 */
export async function retryUntilDelivered(broker: Broker, topic: string, sink: RecordingSink, count: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (sink.deliveries.length < count) {
    if (Date.now() > deadline) throw new Error(`no delivery on ${topic} after reconnect`);
    await broker.publish({ destination: topic, headers: headers(), body: Buffer.from('after') }, { confirm: true }).catch(() => undefined);
    await sink.waitFor(count, 200).catch(() => undefined);
  }
}
