/**
 * The probe connection (probe-connection.ts) on a real RabbitMQ node.
 */
import { expect } from 'chai';
import { headers } from '../../../server/codec/frame';
import { parseBrokerUrl } from '../../../server/config';
import { silentLogger } from '../../../server/observability/logger';
import { ProbeConnection } from '../../../server/broker/rabbitmq/probe-connection';
import { sharedRabbitNode } from '../../harness/rabbitmq';

describe('rabbitmq ProbeConnection', function () {
  this.timeout(30_000);

  it('replaces its connection once it has probed maxRoutesPerConnection queues or exchanges, so what it remembers stays bounded', async () => {
    const node = await sharedRabbitNode();
    const probes = new ProbeConnection({
      connection: { endpoints: [parseBrokerUrl(node.brokerUrl)], heartbeatMs: 0, connectTimeoutMs: 5000 },
      timeoutMs: 5000, maxQueued: 10, maxRoutesPerConnection: 2, logger: silentLogger(),
    });
    try {
      for (const exchange of ['amq.direct', 'amq.topic', 'amq.fanout', 'amq.headers', 'amq.match']) {
        const release = await probes.probe({ destination: `/exchange/${exchange}/stomp-relay.probe`, headers: headers() });
        await release();
      }
      expect(probes.connectionsOpened).to.equal(3);
    } finally {
      await probes.stop();
    }
  });
});
