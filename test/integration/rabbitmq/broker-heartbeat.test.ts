/**
 * Broker heart-beats as an operator configures them (BROKER_HEARTBEAT_MS): a half-dead link to
 * RabbitMQ (no byte moves, no connection closes; a TCP proxy on loopback, paused) is found in a few
 * seconds with the default setting, and the engine recovers once the link works again.
 */
import { expect } from 'chai';
import type { Broker } from '../../../server/broker/broker';
import { createBroker } from '../../../server/broker/create-broker';
import { headers } from '../../../server/codec/frame';
import { DEFAULT_CONFIG, ENV_VARS, configFromEnv, parseBrokerUrl, resolveConfig } from '../../../server/config';
import { RelayError } from '../../../server/errors';
import { silentLogger } from '../../../server/observability/logger';
import { RelayMetrics } from '../../../server/observability/metrics';
import { RecordingSink } from '../../broker-suite/recording-sink';
import { freshDestination, waitUntil } from '../../broker-suite/wait';
import { sharedRabbitNode } from '../../harness/rabbitmq';
import { TcpProxy } from '../../harness/tcp-proxy';
import { retryUntilDelivered } from './rabbit-brokers';

describe('RabbitMQ engine: broker heart-beats (BROKER_HEARTBEAT_MS)', function () {
  this.timeout(60_000);
  let proxy: TcpProxy | undefined;
  let broker: Broker | undefined;

  afterEach(async () => {
    await broker?.stop();
    await proxy?.close();
    broker = proxy = undefined;
  });

  /** The relay's engine as the CLI builds it from `env`, talking to RabbitMQ through a pausable proxy. */
  async function engineThroughProxy(env: Record<string, string> = {}): Promise<Broker> {
    const node = await sharedRabbitNode();
    const endpoint = parseBrokerUrl(node.brokerUrl);
    proxy = await TcpProxy.start({ host: endpoint.host, port: endpoint.port });
    const brokerUrl = `stomp://${endpoint.login}:${endpoint.passcode}@127.0.0.1:${proxy.port}/`;
    const config = configFromEnv({ BROKER_URL: brokerUrl, BROKER_AMQP_URL: node.amqpUrl, BROKER_POOL_SIZE: '1', ...env });
    broker = createBroker(config, silentLogger(), new RelayMetrics());
    await broker.start();
    expect(broker.ready).to.equal(true);
    return broker;
  }

  /** The `heart-beat` header of the first CONNECT that went through the proxy. */
  function askedHeartbeat(): string | undefined {
    const connect = proxy?.firstChunks[0]?.toString('utf8') ?? '';
    return /\nheart-beat:([^\n]*)\n/.exec(connect)?.[1];
  }

  it('is read from BROKER_HEARTBEAT_MS and the brokerHeartbeatMs option (default 5000, 0 = off), and refuses bad values', () => {
    expect(DEFAULT_CONFIG.brokerHeartbeatMs).to.equal(5_000);
    expect(configFromEnv({ BROKER_HEARTBEAT_MS: '1500' }).brokerHeartbeatMs).to.equal(1_500);
    expect(configFromEnv({ BROKER_HEARTBEAT_MS: '0' }).brokerHeartbeatMs).to.equal(0);
    expect(resolveConfig({ brokerHeartbeatMs: 5_000 }).brokerHeartbeatMs).to.equal(5_000);
    expect(ENV_VARS.find((v) => v.name === 'BROKER_HEARTBEAT_MS')?.help).to.match(/default 5000/);
    for (const bad of ['-1', 'fast', '1.5']) {
      expect(() => configFromEnv({ BROKER_HEARTBEAT_MS: bad }), bad).to.throw(RelayError).with.property('code', 'INVALID_CONFIG');
    }
    for (const bad of [-1, 1.5, Number.NaN]) {
      expect(() => resolveConfig({ brokerHeartbeatMs: bad }), String(bad)).to.throw(RelayError).with.property('code', 'INVALID_CONFIG');
    }
  });

  it('asks RabbitMQ for the configured interval', async () => {
    await engineThroughProxy({ BROKER_HEARTBEAT_MS: '1500' });
    expect(askedHeartbeat()).to.equal('1500,1500');
  });

  it('finds a half-dead link within a few seconds by default, then recovers once it works again', async () => {
    const engine = await engineThroughProxy();
    expect(askedHeartbeat()).to.equal('5000,5000');
    const topic = freshDestination('/topic/');
    const sink = new RecordingSink();
    await engine.subscribe({ destination: topic, ack: 'auto', headers: headers() }, sink);

    proxy!.pause();
    // 2 × 5000 ms of silence and one check later; with the old 10 s heart-beat this took 20 s.
    await waitUntil(() => !engine.ready, () => 'the silent broker link was not noticed', 20_000);

    proxy!.resume();
    await waitUntil(() => engine.ready, () => 'not ready again after the link came back', 20_000);
    await retryUntilDelivered(engine, topic, sink, 1);
  });
});
