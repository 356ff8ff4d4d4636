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
    await waitFor(() => warns().some((r) => r.msg === 'broker connection attempt failed (BROKER_URL)')
      && warns().some((r) => r.msg === 'AMQP connection attempt failed (BROKER_AMQP_URL)'), 'both refusals at warn');
    const stomp = warns().find((r) => r.msg === 'broker connection attempt failed (BROKER_URL)')!;
    expect(String(stomp.reason)).to.match(/refused|login|credentials|access/i);
    expect(stomp.endpoint).to.equal(`127.0.0.1:${node.stompPort}`);
    const unrelated = logs.records().filter((r) => r.level >= 40 && /presence|session control/i.test(String(r.msg)));
    expect(unrelated, 'waiting pieces do not warn about the same outage').to.deep.equal([]);
    expect(warns().filter((r) => r.msg === 'broker connection attempt failed (BROKER_URL)').length, 'not one warning per slot per retry').to.be.at.most(2);
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
