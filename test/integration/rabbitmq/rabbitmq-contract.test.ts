/**
 * The shared Broker contract, run against RabbitMqBroker on a private RabbitMQ node.
 */
import { RabbitMqBroker } from '../../../server/broker/rabbitmq';
import { parseBrokerUrl } from '../../../server/config';
import { brokerContract } from '../../broker-suite/broker-contract';
import { sharedRabbitNode } from '../../harness/rabbitmq';

describe('RabbitMqBroker', function () {
  this.timeout(60_000);
  before(async function () {
    await sharedRabbitNode();
  });

  brokerContract('rabbitmq', async () => {
    const node = await sharedRabbitNode();
    const broker = new RabbitMqBroker({ endpoint: parseBrokerUrl(node.brokerUrl), poolSize: 2 });
    await broker.start();
    return { broker, teardown: () => broker.stop() };
  });
});
