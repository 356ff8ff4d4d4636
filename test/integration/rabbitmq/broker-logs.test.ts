/**
 * What the relay logs about RabbitMQ, as an operator needs it: a broker that refuses the relay's
 * credentials is reported at warn with RabbitMQ's own reason, for the STOMP pool (BROKER_URL) and
 * the AMQP link (BROKER_AMQP_URL), without unrelated warnings from the pieces that wait for it
 * (presence, session control); an ordinary shutdown logs nothing at warn.
 */
import { expect } from 'chai';
import { sharedRabbitNode, type RabbitNode } from '../../harness/rabbitmq';
import { RawStomp, startRelay, waitFor, type TestRelay } from '../../harness/stomp-test-kit';
import { captureLogs } from '../../harness/log-capture';
import { createServer } from 'node:net';

/** A loopback port nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('RabbitMQ engine: logs', function () {
  this.timeout(60_000);
  let node: RabbitNode;
  let relay: TestRelay | undefined;

  before(async () => { node = await sharedRabbitNode(); });
  afterEach(async () => {
    await relay?.close();
    relay = undefined;
  });

  it('warns with RabbitMQ\'s reason when it refuses the credentials, on both links, and says nothing of presence', async () => {
    const logs = captureLogs('info');
    relay = await startRelay({
      brokerUrl: node.brokerUrl.replace('guest:guest', 'guest:not-the-password'),
      brokerAmqpUrl: node.amqpUrl.replace('guest:guest', 'guest:not-the-password'),
      brokerPoolSize: 2,
      logger: logs.logger,
      instanceId: 'logs-refused',
    });
    const warns = () => logs.records().filter((r) => r.level === 40);
    await waitFor(() => warns().some((r) => String(r.msg).startsWith('RabbitMQ refused the connection'))
      && warns().some((r) => r.msg === 'AMQP connection attempt failed (BROKER_AMQP_URL)'), 'both refusals at warn');
    const stomp = warns().find((r) => String(r.msg).startsWith('RabbitMQ refused the connection'))!;
    expect(`${String(stomp.reason)} ${String(stomp.detail)}`).to.match(/refused|login|credentials|access/i);
    const unrelated = logs.records().filter((r) => r.level >= 40 && /presence|session control/i.test(String(r.msg)));
    expect(unrelated, 'waiting pieces do not warn about the same outage').to.deep.equal([]);
  });

  it('warns with the cause when nothing listens at BROKER_URL (first failure of each pooled connection)', async () => {
    const logs = captureLogs('info');
    const closed = await closedPort();
    relay = await startRelay({
      brokerUrl: `stomp://guest:guest@127.0.0.1:${closed}/`,
      brokerAmqpUrl: `amqp://guest:guest@127.0.0.1:${closed}/`,
      brokerPoolSize: 2,
      logger: logs.logger,
      instanceId: 'logs-unreachable',
    });
    const failed = () => logs.records().filter((r) => r.level === 40 && r.msg === 'broker connection attempt failed (BROKER_URL)');
    await waitFor(() => failed().length >= 2, 'a warning per pooled connection');
    expect(String(failed()[0].reason)).to.match(/ECONNREFUSED|connect/i);
    expect(failed()[0].node).to.include(String(closed));
    expect(logs.records().filter((r) => r.level >= 40 && /presence|session control/i.test(String(r.msg)))).to.deep.equal([]);
  });

  it('logs each readiness change once, in the engine\'s words', async () => {
    const logs = captureLogs('info');
    relay = await startRelay({ ...node.relayOptions, logger: logs.logger, instanceId: 'logs-ready-once' });
    await waitFor(() => logs.records().some((r) => r.msg === 'RabbitMQ is reachable'), 'the engine to say RabbitMQ is reachable');
    const readyLines = logs.records().filter((r) => r.ready === true);
    expect(readyLines.map((r) => r.msg)).to.deep.equal(['RabbitMQ is reachable']);
  });

  it('logs nothing at warn when a relay with clients on user, topic and queue subscriptions shuts down', async () => {
    const logs = captureLogs('info');
    relay = await startRelay({ ...node.relayOptions, logger: logs.logger, instanceId: 'logs-shutdown' });
    const raw = await RawStomp.open(relay.wsUrl);
    await raw.connect({ login: 'alice' });
    for (const [id, destination] of [['1', '/user/queue/x'], ['2', '/topic/logs-shutdown'], ['3', '/queue/logs-shutdown']]) {
      raw.sendFrame('SUBSCRIBE', { id, destination, receipt: `r${id}` });
      await raw.expect('RECEIPT');
    }
    const from = logs.raw.length;
    await relay.close();
    relay = undefined;
    const after = logs.records().slice(from);
    expect(after.filter((r) => r.level >= 40), 'warn or worse during shutdown').to.deep.equal([]);
    expect(after.map((r) => r.msg)).to.not.include('RabbitMQ is unreachable');
    await raw.close();
  });
});
