/**
 * The shared Broker contract, run against RabbitMqBroker on a private RabbitMQ node. One pooled
 * connection: subscriptions then share one RabbitMQ channel, which is where per-channel state
 * (basic.qos, multiple acks) could leak from one subscription to another.
 */
import { RabbitMqBroker } from '../../../server/broker/rabbitmq';
import { parseAmqpUrls, parseBrokerUrl } from '../../../server/config';
import { brokerContract } from '../../broker-suite/broker-contract';
import { HISTORY_CONTRACT_OPTIONS, historyContract } from '../../broker-suite/history-contract';
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

  // The history in RabbitMQ streams (amqp/stream-history.ts), the same contract as the embedded one.
  historyContract('rabbitmq', async () => {
    const node = await sharedRabbitNode();
    const broker = new RabbitMqBroker({
      endpoint: parseBrokerUrl(node.brokerUrl),
      routes: { endpoints: parseAmqpUrls(node.amqpUrl) },
      poolSize: 1,
      history: { ...HISTORY_CONTRACT_OPTIONS, partitions: 4 },
    });
    await broker.start();
    return { broker, teardown: () => broker.stop() };
  });
});
