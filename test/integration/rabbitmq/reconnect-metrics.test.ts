/**
 * `stomp_relay_broker_reconnects_total` and `stomp_relay_broker_ready_changes_total` against a
 * private RabbitMQ node that closes every client connection (`rabbitmqctl close_all_connections`):
 * each pooled STOMP connection and the AMQP route link come back, and the counters say so.
 */
import { expect } from 'chai';
import { startRabbitNode, type RabbitNode } from '../../harness/rabbitmq';
import { metricValue, request, startRelay, waitFor, type TestRelay } from '../../harness/stomp-test-kit';

describe('RabbitMQ engine: reconnect metrics', function () {
  this.timeout(90_000);
  let node: RabbitNode | undefined;
  let relay: TestRelay | undefined;

  after(async () => {
    await relay?.close();
    await node?.stop();
  });

  it('counts reconnects per link and readiness changes when the broker drops every connection', async () => {
    node = await startRabbitNode();
    relay = await startRelay({ ...node.relayOptions, brokerPoolSize: 2, instanceId: 'metrics-a' });
    const scrape = async () => (await request(`${relay!.http}/metrics`)).text;
    const stomp = 'stomp_relay_broker_reconnects_total{link="stomp"}';
    const amqp = 'stomp_relay_broker_reconnects_total{link="amqp"}';
    const before = await scrape();
    expect(metricValue(before, stomp) ?? 0).to.equal(0);
    expect(metricValue(before, amqp) ?? 0).to.equal(0);
    const changesBefore = metricValue(before, 'stomp_relay_broker_ready_changes_total') ?? 0;

    await node.ctl(['close_all_connections', 'test: reconnect metrics']);
    await waitFor(async () => {
      const text = await scrape();
      return (metricValue(text, stomp) ?? 0) >= 2 && (metricValue(text, amqp) ?? 0) >= 1 && metricValue(text, 'stomp_relay_broker_ready') === 1;
    }, 'both STOMP connections and the AMQP link to come back, counted', 30_000);
    const after = await scrape();
    expect(metricValue(after, 'stomp_relay_broker_ready_changes_total')).to.be.at.least(changesBefore + 2);
    expect(metricValue(after, 'stomp_relay_broker_connections')).to.equal(2);
  });
});
