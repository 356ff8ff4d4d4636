/**
 * The shared Broker contract, run against RabbitMqBroker on a private RabbitMQ node. One pooled
 * connection: subscriptions then share one RabbitMQ channel, which is where per-channel state
 * (basic.qos, multiple acks) could leak from one subscription to another.
 */
import { RabbitMqBroker } from '../../../server/broker/rabbitmq';
import { parseAmqpUrls, parseBrokerUrl } from '../../../server/config';
import { brokerContract } from '../../broker-suite/broker-contract';
import { sharedRabbitNode } from '../../harness/rabbitmq';

describe('RabbitMqBroker', function () {
  this.timeout(60_000);
  before(async function () {
    await sharedRabbitNode();
  });

  brokerContract('rabbitmq', async () => {
    const node = await sharedRabbitNode();
    const broker = new RabbitMqBroker({ endpoint: parseBrokerUrl(node.brokerUrl), routes: { endpoints: parseAmqpUrls(node.amqpUrl) }, poolSize: 1 });
    await broker.start();
    return { broker, teardown: () => broker.stop() };
  });
});
