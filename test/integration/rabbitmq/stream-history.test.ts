/**
 * The RabbitMQ history (server/broker/rabbitmq/amqp/stream-history.ts) on a real private node:
 * what the shared contract (rabbitmq-contract.test.ts) cannot show — the history outliving the
 * broker object that wrote it, broker restarts during a replay, coalesced scans, and broker state
 * that does not grow with users.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { BrokerMessage } from '../../../server/broker/broker';
import { RESUME_TOKEN_HEADER } from '../../../server/broker/history';
import type { RabbitMqBroker } from '../../../server/broker/rabbitmq';
import { partitionOf } from '../../../server/broker/rabbitmq/amqp/history-token';
import { HISTORY_STREAM_PREFIX } from '../../../server/broker/rabbitmq/amqp/stream-history';
import { headers as makeHeaders } from '../../../server/codec/frame';
import { parseAmqpUrls as parseAmqpEndpoints } from '../../../server/config';
import { RelayMetrics } from '../../../server/observability/metrics';
import { userBrokerDestination } from '../../../server/user/user-destinations';
import { waitUntil } from '../../broker-suite/wait';
import { useRabbitBrokers } from './rabbit-brokers';

const PARTITIONS = 4;
/** The contract's settings too: one set of stream arguments on the shared node. */
const HISTORY = { windowMs: 4000, maxMessages: 5, partitions: PARTITIONS };

describe('RabbitMQ history in streams', function () {
  this.timeout(90_000);
  const brokers = useRabbitBrokers({ history: HISTORY });

  function destinationFor(prefix: string): string {
    return userBrokerDestination(`${prefix}-${randomBytes(6).toString('hex')}`, '/queue/notes');
  }

  /** `count` fresh destinations that all live in partition `p`. */
  function destinationsInPartition(p: number, count: number): string[] {
    const out: string[] = [];
    while (out.length < count) {
      const d = destinationFor('same-partition');
      if (partitionOf(d, PARTITIONS) === p) out.push(d);
    }
    return out;
  }

  async function recordAll(broker: RabbitMqBroker, destination: string, bodies: string[]): Promise<string[]> {
    const tokens: string[] = [];
    for (const body of bodies) tokens.push(await broker.history!.record(destination, { headers: makeHeaders({ n: body }), body: Buffer.from(body) }));
    return tokens;
  }

  const bodiesOf = (messages: BrokerMessage[]) => messages.map((m) => m.body.toString());

  it('is read by another broker object with another instance id (the recording instance is gone)', async function () {
    const writer = await brokers.start(1, { routes: { ...brokerRoutes(), instanceId: 'history-writer' } });
    const destination = destinationFor('lost-instance');
    const [first, ...rest] = await recordAll(writer, destination, ['w0', 'w1', 'w2']);
    await writer.stop();
    const reader = await brokers.start(1, { routes: { ...brokerRoutes(), instanceId: 'history-reader' } });
    const replay = await reader.history!.replay(destination, first);
    expect(replay.gap).to.equal(false);
    expect(bodiesOf(replay.messages)).to.deep.equal(['w1', 'w2']);
    expect(replay.messages.map((m) => m.headers[RESUME_TOKEN_HEADER])).to.deep.equal(rest);
    expect(replay.messages[0].destination).to.equal(destination);
    expect(replay.messages[0].headers).to.not.have.any.keys('x-stomp-relay-history-token', 'x-stomp-relay-history-destination', 'x-stream-offset');
  });

  it('keeps exactly one stream per partition, whatever the number of users', async function () {
    const broker = await brokers.start(1);
    await Promise.all(Array.from({ length: 200 }, (_, i) => recordAll(broker, destinationFor(`user${i}`), ['x'])));
    const streams = (await brokers.node.listQueues()).filter((q) => q.name.startsWith(HISTORY_STREAM_PREFIX));
    expect(streams.map((q) => q.name).sort()).to.deep.equal(Array.from({ length: PARTITIONS }, (_, p) => `${HISTORY_STREAM_PREFIX}${p}`));
    for (const stream of streams) {
      expect(stream.type, stream.name).to.equal('stream');
      expect(stream.durable, stream.name).to.equal(true);
    }
  });

  it('serves many concurrent replays of one partition with one scan', async function () {
    const metrics = new RelayMetrics();
    const broker = await brokers.start(1, { metrics });
    const destinations = destinationsInPartition(2, 50);
    const tokens = await Promise.all(destinations.map((d) => recordAll(broker, d, ['first', 'second'])));
    const scansBefore = await counter(metrics, 'stomp_relay_history_scans_total');
    const replays = await Promise.all(destinations.map((d, i) => broker.history!.replay(d, tokens[i][0])));
    for (const replay of replays) {
      expect(replay.gap).to.equal(false);
      expect(bodiesOf(replay.messages)).to.deep.equal(['second']);
    }
    expect(await counter(metrics, 'stomp_relay_history_scans_total') - scansBefore).to.equal(1);
    expect(await counter(metrics, 'stomp_relay_history_scanned_messages_total')).to.be.at.least(100);
    expect(await counter(metrics, 'stomp_relay_history_records_total')).to.equal(100);
  });

  it('serves a later batch with the reader of the first: what came in between, from memory, no second read', async function () {
    const metrics = new RelayMetrics();
    const broker = await brokers.start(1, { metrics });
    const [destination] = destinationsInPartition(1, 1);
    const [first] = await recordAll(broker, destination, ['a', 'b']);
    expect(bodiesOf((await broker.history!.replay(destination, first)).messages)).to.deep.equal(['b']);
    await recordAll(broker, destination, ['c']);
    const later = await broker.history!.replay(destination, first);
    expect(later.gap).to.equal(false);
    expect(bodiesOf(later.messages)).to.deep.equal(['b', 'c']);
    expect(await counter(metrics, 'stomp_relay_history_scans_total'), 'stream readers opened').to.equal(1);
  });

  describe('broker restarts', function () {
    // A restart takes longer than the contract's window: the streams' retention (already declared) is longer.
    const LONG = { ...HISTORY, windowMs: 60_000, scanTimeoutMs: 60_000 };

    afterEach(async function () {
      if (!(await brokers.node.listQueues().then(() => true, () => false))) await brokers.node.startApp();
    });

    it('completes a replay asked while RabbitMQ is down once it is back', async function () {
      const broker = await brokers.start(1, { history: LONG });
      const destination = destinationFor('restart');
      const [first] = await recordAll(broker, destination, ['r0', 'r1', 'r2']);
      await brokers.node.stopApp();
      const replaying = broker.history!.replay(destination, first);
      await brokers.node.startApp();
      const replay = await replaying;
      expect(replay.gap).to.equal(false);
      expect(bodiesOf(replay.messages)).to.deep.equal(['r1', 'r2']);
    });

    it('records again as soon as RabbitMQ is back (the streams take a moment to start), and replays across the restart', async function () {
      const broker = await brokers.start(1, { history: LONG });
      const destination = destinationFor('back');
      const [first] = await recordAll(broker, destination, ['before']);
      await brokers.node.stopApp();
      await brokers.node.startApp();
      await waitUntil(() => broker.ready, () => 'the engine ready again', 30_000);
      await recordAll(broker, destination, ['after']);
      const replay = await broker.history!.replay(destination, first);
      expect(replay.gap).to.equal(false);
      expect(bodiesOf(replay.messages)).to.deep.equal(['after']);
    });

    it('answers a gap, not a hang, when RabbitMQ stays away longer than the scan bound', async function () {
      const broker = await brokers.start(1, { history: { ...LONG, scanTimeoutMs: 1000 } });
      const destination = destinationFor('away');
      const [first] = await recordAll(broker, destination, ['x0', 'x1']);
      await brokers.node.stopApp();
      const replay = await broker.history!.replay(destination, first);
      expect(replay.gap).to.equal(true);
      expect(replay.messages).to.deep.equal([]);
      await brokers.node.startApp();
    });

    it('answers a replay cut by a restart with everything or with a gap, never with less and no gap', async function () {
      const broker = await brokers.start(1, { history: { ...LONG, maxMessages: 1000 } });
      const destination = destinationFor('cut');
      const bodies = Array.from({ length: 300 }, (_, i) => `c${i}`);
      const [first] = await recordAll(broker, destination, ['start']);
      await recordAll(broker, destination, bodies);
      const replaying = broker.history!.replay(destination, first);
      await brokers.node.stopApp();
      await brokers.node.startApp();
      const replay = await replaying;
      if (!replay.gap) expect(bodiesOf(replay.messages)).to.deep.equal(bodies);
      else for (const body of bodiesOf(replay.messages)) expect(bodies).to.include(body);
    });
  });

  function brokerRoutes(): { endpoints: ReturnType<typeof parseAmqpEndpoints> } {
    return { endpoints: parseAmqpEndpoints(brokers.node.amqpUrl) };
  }
});

async function counter(metrics: RelayMetrics, name: string): Promise<number> {
  const metric = await metrics.registry.getSingleMetric(name)?.get();
  return metric?.values.reduce((sum, v) => sum + v.value, 0) ?? 0;
}
