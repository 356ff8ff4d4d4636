/**
 * "No input may disturb other sessions": requests RabbitMQ answers with ERROR and a closed
 * connection must not reach the connections the engine shares between sessions. Each case:
 * session A listens on a topic; someone on the same engine makes one bad request; the requester
 * gets a clean rejection, A loses nothing, and no pooled connection was reopened.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { RabbitMqBroker } from '../../../server/broker/rabbitmq';
import { headers } from '../../../server/codec/frame';
import { parseAmqpUrls, parseBrokerUrl } from '../../../server/config';
import type { ErrorCode } from '../../../server/errors';
import { RecordingSink } from '../../broker-suite/recording-sink';
import { publish, subscribe as subscribeTo } from '../../broker-suite/requests';
import { expectRelayError, freshDestination, waitUntil } from '../../broker-suite/wait';
import { sharedRabbitNode, type RabbitNode } from '../../harness/rabbitmq';
import { waitFor } from '../../harness/stomp-test-kit';
import type { ConnectionSlot } from '../../../server/broker/rabbitmq/connection-slot';

describe('RabbitMqBroker: bad requests do not disturb other sessions', function () {
  this.timeout(30_000);
  let node: RabbitNode;
  let broker: RabbitMqBroker;

  before(async () => {
    node = await sharedRabbitNode();
  });

  beforeEach(async () => {
    // One pooled connection: every request shares it with session A.
    broker = new RabbitMqBroker({ endpoint: parseBrokerUrl(node.brokerUrl), routes: { endpoints: parseAmqpUrls(node.amqpUrl) }, poolSize: 1, reconnect: { initialMs: 50, maxMs: 500 }, heartbeatMs: 0 });
    await broker.start();
  });

  afterEach(async () => {
    await broker.stop();
  });

  const unique = (prefix: string): string => `${prefix}${randomBytes(6).toString('hex')}`;

  /** A plain durable queue that exists on the broker (RabbitMQ declares it on SUBSCRIBE). */
  async function existingQueue(): Promise<string> {
    const queue = freshDestination('/queue/');
    const consumer = await broker.subscribe({ destination: queue, ack: 'auto', headers: headers() }, new RecordingSink());
    await consumer.close();
    return queue;
  }

  /**
   * Session A listens on a topic while `bad()` runs; then 20 messages are published. A must get
   * all of them, in order, and the pooled connection must be the one it started with.
   */
  async function expectUndisturbed(bad: () => Promise<unknown>, code: ErrorCode, readable: string): Promise<void> {
    const topic = freshDestination('/topic/');
    const sessionA = new RecordingSink('session A');
    await broker.subscribe({ destination: topic, ack: 'auto', headers: headers() }, sessionA);
    const opened = broker.connectionsOpened;

    const error = await expectRelayError(bad(), code);
    expect(error.message).to.contain(readable);

    const bodies = Array.from({ length: 20 }, (_, i) => `m${i}`);
    for (const body of bodies) {
      await broker.publish({ destination: topic, headers: headers(), body: Buffer.from(body) }, { confirm: true });
    }
    await sessionA.waitFor(20);
    expect(sessionA.bodies()).to.deep.equal(bodies);
    expect(sessionA.cancellations).to.deep.equal([]);
    expect(broker.connectionsOpened, 'a pooled connection was reopened').to.equal(opened);
    expect(broker.openConnections).to.equal(1);
  }

  const subscribe = (destination: string, init: Record<string, string> = {}) => subscribeTo(broker, destination, new RecordingSink(), 'auto', init);
  const send = (destination: string, init: Record<string, string> = {}, confirm = false) => publish(broker, destination, 'bad', init, { confirm });

  it('SUBSCRIBE to a missing /amq/queue/', async () => {
    await expectUndisturbed(() => subscribe(unique('/amq/queue/missing-')), 'DESTINATION_NOT_ALLOWED', 'no queue');
  });

  it('SUBSCRIBE to a missing exchange', async () => {
    await expectUndisturbed(() => subscribe(unique('/exchange/no-such-exchange-') + '/k'), 'DESTINATION_NOT_ALLOWED', 'no exchange');
  });

  it('SUBSCRIBE to a missing amq.* exchange (not a built-in one)', async () => {
    await expectUndisturbed(() => subscribe('/exchange/amq.no-such/k'), 'DESTINATION_NOT_ALLOWED', 'no exchange');
  });

  it('SEND to a missing exchange, without and with confirm', async () => {
    const exchange = unique('/exchange/no-such-exchange-');
    await expectUndisturbed(() => send(`${exchange}/k`), 'DESTINATION_NOT_ALLOWED', 'no exchange');
    await expectUndisturbed(() => send(`${exchange}/other-key`, {}, true), 'DESTINATION_NOT_ALLOWED', 'no exchange');
  });

  it('SUBSCRIBE redeclaring an existing queue as auto-delete', async () => {
    const queue = await existingQueue();
    await expectUndisturbed(() => subscribe(queue, { 'auto-delete': 'true' }), 'BROKER_ERROR', "inequivalent arg 'auto_delete'");
  });

  it('SEND redeclaring an existing queue with other arguments', async () => {
    const queue = await existingQueue();
    await expectUndisturbed(() => send(queue, { 'x-max-length': '5' }), 'BROKER_ERROR', "inequivalent arg 'x-max-length'");
  });

  it('SUBSCRIBE with a queue argument RabbitMQ cannot parse (it sends ERROR and no RECEIPT)', async () => {
    await expectUndisturbed(() => subscribe(freshDestination('/queue/'), { 'x-max-length': 'abc' }), 'BROKER_ERROR', 'error');
  });

  it('SUBSCRIBE with an unsupported queue type', async () => {
    await expectUndisturbed(() => subscribe(freshDestination('/queue/'), { 'x-queue-type': 'bogus' }), 'BROKER_ERROR', "unsupported queue type 'bogus'");
  });

  it('SUBSCRIBE to a stream with auto acks or without prefetch-count (RabbitMQ answers both by closing the connection)', async () => {
    const stream = freshDestination('/queue/');
    const consume = (destination: string, ack: 'auto' | 'client', init: Record<string, string>) =>
      broker.subscribe({ destination, ack, headers: headers(init) }, new RecordingSink());
    await expectUndisturbed(() => consume(stream, 'auto', { 'x-queue-type': 'stream', 'prefetch-count': '10' }), 'INVALID_HEADER', 'client');
    await expectUndisturbed(() => consume(stream, 'client', { 'x-queue-type': 'stream' }), 'INVALID_HEADER', 'prefetch-count');
    // The stream exists now; /amq/queue/ names it, x-stream-offset says it is one.
    await (await consume(stream, 'client', { 'x-queue-type': 'stream', 'prefetch-count': '10' })).close();
    const existing = `/amq/queue/${stream.slice('/queue/'.length)}`;
    await expectUndisturbed(() => consume(existing, 'auto', { 'x-stream-offset': 'first' }), 'INVALID_HEADER', 'client');
    await expectUndisturbed(() => consume(existing, 'client', { 'x-stream-offset': 'first' }), 'INVALID_HEADER', 'prefetch-count');
    // RabbitMQ's STOMP plugin crashes the connection on an offset that is not a number.
    await expectUndisturbed(() => consume(existing, 'client', { 'x-stream-offset': 'offset=abc', 'prefetch-count': '1' }), 'INVALID_HEADER', 'x-stream-offset');
  });

  it('SUBSCRIBE to a topic naming its queue with a reserved amq. name', async () => {
    await expectUndisturbed(() => subscribe(freshDestination('/topic/'), { 'x-queue-name': 'amq.mine' }), 'DESTINATION_NOT_ALLOWED', 'reserved prefix');
  });

  it('SEND to /queue/ with persistent:false, or exclusive:True in any letter case (it would declare a queue exclusive to the pooled connection)', async () => {
    await expectUndisturbed(() => send(freshDestination('/queue/'), { persistent: 'false' }, true), 'DESTINATION_NOT_ALLOWED', 'exclusive:false');
    await expectUndisturbed(() => send(freshDestination('/queue/'), { exclusive: 'True' }, true), 'DESTINATION_NOT_ALLOWED', 'exclusive:true');
  });

  describe('exclusive queues, on a connection of their session\'s own', () => {
    const REPLY_FLAGS = { durable: 'false', 'auto-delete': 'true', exclusive: 'true' };
    const exclusiveSubscribe = (session: string, destination: string, sink: RecordingSink, flags: Record<string, string> = REPLY_FLAGS) =>
      broker.subscribe({ destination, ack: 'auto', headers: headers(flags), subscriber: { session, user: session, id: 'replies' } }, sink);
    /** STOMP connections of the node right now (pool, probe, and the sessions' own). */
    const stompConnections = async () => (await node.listConnections()).length;

    it('takes one, for any of RabbitMQ\'s spellings of an exclusive queue, without touching the pooled connection', async () => {
      for (const flags of [REPLY_FLAGS, { durable: 'False' }, { persistent: 'false', 'auto-delete': 'true' }, { exclusive: 'True' }] as Array<Record<string, string>>) {
        const queue = freshDestination('/queue/');
        const owner = new RecordingSink('owner');
        let consumer: Awaited<ReturnType<typeof exclusiveSubscribe>> | undefined;
        // A subscribe that succeeds disturbs nobody either: expectUndisturbed wants a refusal, so the
        // refused part is a second session asking for the same queue.
        await expectUndisturbed(async () => {
          consumer = await exclusiveSubscribe('alice-session', queue, owner, flags);
          return exclusiveSubscribe('mallory-session', queue, new RecordingSink('mallory'), flags);
        }, 'DESTINATION_NOT_ALLOWED', 'resource_locked');
        const info = (await node.listQueues()).find((q) => `/queue/${q.name}` === queue);
        expect(info, `${JSON.stringify(flags)}: RabbitMQ shows the queue`).to.include({ exclusive: true, consumers: 1 });
        await send(queue, {}, true);
        await owner.waitFor(1);
        await consumer!.close();
      }
    });

    it('lets a plain SEND answer it from the pool (through /amq/queue/, which declares nothing), and refuses everyone else\'s SUBSCRIBE', async () => {
      const queue = freshDestination('/queue/');
      const owner = new RecordingSink('owner');
      await exclusiveSubscribe('alice-session', queue, owner);
      await expectUndisturbed(() => subscribe(queue), 'DESTINATION_NOT_ALLOWED', 'resource_locked');
      await expectUndisturbed(() => subscribe(`/amq/queue/${queue.slice('/queue/'.length)}`), 'DESTINATION_NOT_ALLOWED', 'resource_locked');
      const opened = broker.connectionsOpened;
      for (const body of ['r1', 'r2', 'r3']) await broker.publish({ destination: queue, headers: headers({ 'correlation-id': body }), body: Buffer.from(body) }, { confirm: body !== 'r2' });
      await owner.waitFor(3);
      expect(owner.bodies()).to.deep.equal(['r1', 'r2', 'r3']);
      expect(broker.connectionsOpened, 'the pooled connection survived the replies').to.equal(opened);
    });

    it('refuses what RabbitMQ cannot parse there (an ERROR without RECEIPT) instead of waiting forever', async () => {
      await expectUndisturbed(() => exclusiveSubscribe('alice-session', freshDestination('/queue/'), new RecordingSink(), { ...REPLY_FLAGS, 'x-max-length': 'abc' }), 'BROKER_ERROR', 'error');
      // The session may try again: a fresh connection serves it.
      const owner = new RecordingSink('owner');
      const queue = freshDestination('/queue/');
      await exclusiveSubscribe('alice-session', queue, owner);
      await send(queue, {}, true);
      await owner.waitFor(1);
    });

    it('closes the session\'s connection with its last exclusive subscription, and RabbitMQ deletes the queue with it', async () => {
      const baseline = await stompConnections();
      const [first, second] = [freshDestination('/queue/'), freshDestination('/queue/')];
      const a = await exclusiveSubscribe('alice-session', first, new RecordingSink('first'), { durable: 'false', exclusive: 'true' });
      const b = await exclusiveSubscribe('alice-session', second, new RecordingSink('second'), { durable: 'false', exclusive: 'true' });
      expect(await stompConnections(), 'one connection for both of the session\'s exclusive queues').to.equal(baseline + 1);
      await a.close();
      expect(await stompConnections()).to.equal(baseline + 1);
      await b.close();
      await waitFor(async () => (await stompConnections()) === baseline, 'the session\'s connection to close', 10_000);
      const names = [first, second].map((d) => d.slice('/queue/'.length));
      await waitFor(async () => !(await node.listQueues()).some((q) => names.includes(q.name)), 'the exclusive queues to go', 10_000);
      // Free again: another session may declare it now.
      const next = new RecordingSink('next owner');
      await exclusiveSubscribe('bob-session', first, next, { durable: 'false', exclusive: 'true' });
      await send(first, {}, true);
      await next.waitFor(1);
    });

    it('cancels the session\'s exclusive subscriptions when its connection drops, and nobody else\'s', async () => {
      const topic = freshDestination('/topic/');
      const witness = new RecordingSink('witness');
      await broker.subscribe({ destination: topic, ack: 'auto', headers: headers() }, witness);
      const owner = new RecordingSink('owner');
      await exclusiveSubscribe('alice-session', freshDestination('/queue/'), owner);
      const opened = broker.connectionsOpened;
      // The network drops the session's own connection (as in reply-addresses.test.ts, from inside).
      const lines = (broker as unknown as { exclusive: { lines: Map<string, { slot: ConnectionSlot }> } }).exclusive.lines;
      expect(lines.size, 'the session holds a connection of its own').to.equal(1);
      [...lines.values()][0].slot.connection!.destroy('test: connection lost');
      await waitUntil(() => owner.cancellations.length === 1, () => 'the exclusive subscription was not cancelled');
      expect(owner.cancellations[0].code).to.equal('BROKER_UNAVAILABLE');
      await broker.publish({ destination: topic, headers: headers(), body: Buffer.from('still here') }, { confirm: true });
      await witness.waitFor(1);
      expect(witness.cancellations).to.deep.equal([]);
      expect(broker.connectionsOpened, 'the pooled connection never dropped').to.equal(opened);
      expect(lines.size, 'the session\'s connection is not reopened').to.equal(0);
    });

    it('holds at most maxExclusiveConnections sessions\' connections; beyond, the next session is refused for now', async () => {
      await broker.stop();
      broker = new RabbitMqBroker({ endpoint: parseBrokerUrl(node.brokerUrl), routes: { endpoints: parseAmqpUrls(node.amqpUrl) }, poolSize: 1, heartbeatMs: 0, maxExclusiveConnections: 1 });
      await broker.start();
      const held = await exclusiveSubscribe('alice-session', freshDestination('/queue/'), new RecordingSink());
      await expectUndisturbed(() => exclusiveSubscribe('bob-session', freshDestination('/queue/'), new RecordingSink()), 'BROKER_UNAVAILABLE', 'BROKER_EXCLUSIVE_CONNECTIONS');
      await held.close();
      await exclusiveSubscribe('bob-session', freshDestination('/queue/'), new RecordingSink());
    });
  });

  it('a non-durable /queue/ with exclusive:false works for several sessions', async () => {
    const queue = freshDestination('/queue/');
    const flags = { durable: 'false', exclusive: 'false' };
    const first = new RecordingSink('first');
    const second = new RecordingSink('second');
    await broker.subscribe({ destination: queue, ack: 'auto', headers: headers(flags) }, first);
    await broker.subscribe({ destination: queue, ack: 'auto', headers: headers(flags) }, second);
    const opened = broker.connectionsOpened;
    for (const body of ['1', '2', '3', '4']) {
      await broker.publish({ destination: queue, headers: headers({ persistent: 'false', exclusive: 'false' }), body: Buffer.from(body) }, { confirm: true });
    }
    await waitUntil(() => first.deliveries.length + second.deliveries.length === 4, () => `${first.deliveries.length} + ${second.deliveries.length} of 4 delivered`);
    expect([...first.bodies(), ...second.bodies()].sort()).to.deep.equal(['1', '2', '3', '4']);
    expect(broker.connectionsOpened).to.equal(opened);
  });

  it('durable topic subscriptions the relay cannot keep per user: anonymous, or on /exchange/ without x-queue-name', async () => {
    await expectUndisturbed(() => subscribe(freshDestination('/topic/'), { durable: 'true' }), 'DESTINATION_NOT_ALLOWED', 'anonymous');
    await expectUndisturbed(() => subscribe(freshDestination('/topic/'), { persistent: 'True' }), 'DESTINATION_NOT_ALLOWED', 'anonymous');
    await expectUndisturbed(() => subscribe('/exchange/amq.topic/k', { durable: 'true', 'auto-delete': 'false' }), 'DESTINATION_NOT_ALLOWED', 'x-queue-name');
  });

  it('a durable topic subscription lives in a durable queue of its user\'s, which UNSUBSCRIBE durable deletes', async () => {
    const topic = freshDestination('/topic/');
    const subscriber = { session: 'alice-session', user: `alice-${randomBytes(4).toString('hex')}`, id: 'news' };
    const before = new Set((await node.listQueues()).map((q) => q.name));
    const consumer = await broker.subscribe({ destination: topic, ack: 'client', headers: headers({ durable: 'true', 'auto-delete': 'false' }), subscriber }, new RecordingSink());
    const created = (await node.listQueues()).filter((q) => !before.has(q.name) && q.name.startsWith('stomp-relay.durable.'));
    expect(created.map((q) => ({ durable: q.durable, autoDelete: q.autoDelete, exclusive: q.exclusive })))
      .to.deep.equal([{ durable: true, autoDelete: false, exclusive: false }]);
    await consumer.close({ removeDurable: true });
    expect((await node.listQueues()).map((q) => q.name)).to.not.include(created[0].name);
  });

  it('a durable topic subscription on a queue the client names keeps messages across reattaching', async () => {
    const topic = freshDestination('/topic/');
    const queueName = unique('relay-test-durable-');
    const flags = { durable: 'true', 'auto-delete': 'false', 'x-queue-name': queueName };
    const first = await broker.subscribe({ destination: topic, ack: 'client-individual', headers: headers(flags) }, new RecordingSink());
    await first.close();
    await broker.publish({ destination: topic, headers: headers(), body: Buffer.from('kept') }, { confirm: true });
    const sink = new RecordingSink('durable');
    const again = await broker.subscribe({ destination: topic, ack: 'client-individual', headers: headers(flags) }, sink);
    const [kept] = await sink.waitFor(1);
    expect(kept.message.body.toString()).to.equal('kept');
    again.ack(kept.ackId as string);
    await again.close();
    await node.ctl(['delete_queue', queueName]);
  });

  it('flags RabbitMQ 3.10 cannot read (durable:TRUE: it answers ERROR "Processing error" and no RECEIPT) are verified first', async () => {
    for (const flags of [{ durable: 'TRUE' }, { persistent: 'FALSE' }, { durable: 'tRuE', 'auto-delete': 'false' }] as Array<Record<string, string>>) {
      await expectUndisturbed(() => subscribe(freshDestination('/topic/'), flags), 'BROKER_ERROR', 'Processing error');
    }
  });

  it('header values and destinations RabbitMQ cannot take are refused without a round trip', async () => {
    await expectUndisturbed(() => send(freshDestination('/topic/'), { priority: 'high' }), 'INVALID_HEADER', 'priority');
    await expectUndisturbed(() => send(freshDestination('/topic/'), { expiration: 'soon' }), 'INVALID_HEADER', 'expiration');
    await expectUndisturbed(() => subscribe(freshDestination('/queue/'), { 'prefetch-count': 'many' }), 'INVALID_HEADER', 'prefetch-count');
    await expectUndisturbed(() => subscribe('/temp-queue/replies'), 'DESTINATION_NOT_ALLOWED', 'temporary queue');
    await expectUndisturbed(() => subscribe('/nowhere/x'), 'DESTINATION_NOT_ALLOWED', '/nowhere/x');
  });

  it('a reply-to naming a /temp-queue/ (RabbitMQ would make a queue on the pooled connection)', async () => {
    await expectUndisturbed(() => send(freshDestination('/topic/'), { 'reply-to': '/temp-queue/answers' }, true), 'INVALID_HEADER', 'reply-to');
  });

  it('SUBSCRIBE to another relay\'s reply address queue (exclusive on RabbitMQ: RESOURCE_LOCKED would close the connection)', async () => {
    const other = new RabbitMqBroker({ endpoint: parseBrokerUrl(node.brokerUrl), routes: { endpoints: parseAmqpUrls(node.amqpUrl) }, poolSize: 1, heartbeatMs: 0 });
    await other.start();
    try {
      const address = await other.openReplyAddress(new RecordingSink());
      const name = address.destination.slice('/reply-queue/'.length);
      await expectUndisturbed(() => subscribe(`/amq/queue/${name}`), 'DESTINATION_NOT_ALLOWED', 'reserved for reply addresses');
      await expectUndisturbed(() => send(`/queue/${name}`, {}, true), 'DESTINATION_NOT_ALLOWED', 'reserved for reply addresses');
    } finally {
      await other.stop();
    }
  });

  it('keeps the relay\'s own queues to itself: a client that learned one cannot consume it (and take half of alice\'s messages)', async () => {
    const topic = freshDestination('/topic/');
    const alice = new RecordingSink('alice');
    await broker.subscribe({ destination: topic, ack: 'auto', headers: headers() }, alice);
    // What `rabbitmqctl list_queues` (or the management UI) shows mallory: the instance's route
    // queue, where alice's topic messages (and every user's pushes) arrive.
    const learned = (await node.listQueues()).map((q) => q.name).filter((name) => name === broker.routeQueue);
    expect(learned, 'the instance\'s route queue').to.have.length(1);
    const [name] = learned;
    await expectUndisturbed(() => subscribe(`/amq/queue/${name}`), 'DESTINATION_NOT_ALLOWED', 'reserved');
    await expectUndisturbed(() => subscribe(`/queue/${name}`), 'DESTINATION_NOT_ALLOWED', 'reserved');
    await expectUndisturbed(() => subscribe(`/amq/queue/${name.replace('-', '%2D')}`), 'DESTINATION_NOT_ALLOWED', 'reserved');
    await expectUndisturbed(() => subscribe(freshDestination('/topic/'), { 'x-queue-name': name }), 'DESTINATION_NOT_ALLOWED', 'x-queue-name');
    await expectUndisturbed(() => send(`/amq/queue/${name}`, {}, true), 'DESTINATION_NOT_ALLOWED', 'reserved');
    for (const body of ['a', 'b', 'c']) await broker.publish({ destination: topic, headers: headers(), body: Buffer.from(body) }, { confirm: true });
    await alice.waitFor(3);
    expect(alice.bodies()).to.deep.equal(['a', 'b', 'c']);
    const consumers = (await node.listConsumers()).filter((c) => c.queue === name);
    expect(consumers, 'only the relay consumes the queue').to.have.length(1);
  });

  it('keeps the trace firehose closed even with tracing on', async () => {
    await node.ctl(['trace_on']);
    try {
      await expectUndisturbed(() => subscribe('/exchange/amq.rabbitmq.trace/#'), 'DESTINATION_NOT_ALLOWED', 'reserved');
    } finally {
      await node.ctl(['trace_off']);
    }
  });

  it('still serves verified queue subscriptions and publishes, and remembers the verdict', async () => {
    const queue = freshDestination('/queue/');
    const sink = new RecordingSink('queue');
    const consumer = await broker.subscribe({ destination: queue, ack: 'auto', headers: headers({ 'x-max-length': '100' }) }, sink);
    await broker.publish({ destination: queue, headers: headers({ 'x-max-length': '100' }), body: Buffer.from('one') }, { confirm: true });
    await broker.publish({ destination: queue, headers: headers({ 'x-max-length': '100' }), body: Buffer.from('two') });
    await sink.waitFor(2);
    expect(sink.bodies()).to.deep.equal(['one', 'two']);
    await consumer.close();
  });

  it('keeps an auto-delete queue and its messages while the probe gives way to the real subscription', async () => {
    const queue = freshDestination('/queue/');
    const flags = { 'auto-delete': 'true' };
    // Another instance fills the queue before anyone consumes from it.
    const other = new RabbitMqBroker({ endpoint: parseBrokerUrl(node.brokerUrl), routes: { endpoints: parseAmqpUrls(node.amqpUrl) }, poolSize: 1, heartbeatMs: 0 });
    await other.start();
    try {
      for (const body of ['a', 'b', 'c']) {
        await other.publish({ destination: queue, headers: headers(flags), body: Buffer.from(body) }, { confirm: true });
      }
    } finally {
      await other.stop();
    }
    // This instance has not seen the queue: its probe subscribes to it first. Had the probe let go
    // before the real subscription was in place, RabbitMQ would have deleted the queue and a, b, c.
    const sink = new RecordingSink('auto-delete queue');
    await broker.subscribe({ destination: queue, ack: 'auto', headers: headers(flags) }, sink);
    await sink.waitFor(3);
    expect([...sink.bodies()].sort()).to.deep.equal(['a', 'b', 'c']);
  });

  it('publishes to and subscribes on an existing custom exchange', async () => {
    const exchange = unique('relay-test-');
    await node.ctl(['eval', `rabbit_exchange:declare(rabbit_misc:r(<<"/">>, exchange, <<"${exchange}">>), topic, false, true, false, [], <<"guest">>).`]);
    const sink = new RecordingSink('custom exchange');
    await broker.subscribe({ destination: `/exchange/${exchange}/news.*`, ack: 'auto', headers: headers() }, sink);
    await broker.publish({ destination: `/exchange/${exchange}/news.today`, headers: headers(), body: Buffer.from('hello') });
    await sink.waitFor(1);
    expect(sink.bodies()).to.deep.equal(['hello']);
  });
});
