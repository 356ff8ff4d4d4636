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
import { parseBrokerUrl } from '../../../server/config';
import type { ErrorCode } from '../../../server/errors';
import { RecordingSink } from '../../broker-suite/recording-sink';
import { expectRelayError, freshDestination, waitUntil } from '../../broker-suite/wait';
import { sharedRabbitNode, type RabbitNode } from '../../harness/rabbitmq';

describe('RabbitMqBroker: bad requests do not disturb other sessions', function () {
  this.timeout(30_000);
  let node: RabbitNode;
  let broker: RabbitMqBroker;

  before(async () => {
    node = await sharedRabbitNode();
  });

  beforeEach(async () => {
    // One pooled connection: every request shares it with session A.
    broker = new RabbitMqBroker({ endpoint: parseBrokerUrl(node.brokerUrl), poolSize: 1, reconnect: { initialMs: 50, maxMs: 500 }, heartbeatMs: 0 });
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

  const subscribe = (destination: string, init: Record<string, string> = {}) =>
    broker.subscribe({ destination, ack: 'auto', headers: headers(init) }, new RecordingSink());
  const send = (destination: string, init: Record<string, string> = {}, confirm = false) =>
    broker.publish({ destination, headers: headers(init), body: Buffer.from('bad') }, { confirm });

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

  it('SUBSCRIBE to /queue/ with durable:false or persistent:false (RabbitMQ makes the queue exclusive to one connection)', async () => {
    await expectUndisturbed(() => subscribe(freshDestination('/queue/'), { durable: 'false' }), 'DESTINATION_NOT_ALLOWED', 'exclusive:false');
    await expectUndisturbed(() => subscribe(freshDestination('/queue/'), { persistent: 'False' }), 'DESTINATION_NOT_ALLOWED', 'exclusive:false');
    await expectUndisturbed(() => subscribe(freshDestination('/queue/'), { durable: 'FALSE', 'auto-delete': 'true' }), 'DESTINATION_NOT_ALLOWED', 'exclusive:false');
  });

  it('SEND to /queue/ with persistent:false, or exclusive:True in any letter case', async () => {
    await expectUndisturbed(() => send(freshDestination('/queue/'), { persistent: 'false' }, true), 'DESTINATION_NOT_ALLOWED', 'exclusive:false');
    await expectUndisturbed(() => send(freshDestination('/queue/'), { exclusive: 'True' }, true), 'DESTINATION_NOT_ALLOWED', 'exclusive:true');
    await expectUndisturbed(() => subscribe(freshDestination('/queue/'), { exclusive: 'TRUE' }), 'DESTINATION_NOT_ALLOWED', 'exclusive:true');
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

  it('durable topic subscriptions without x-queue-name (their queue would outlive every reconnect)', async () => {
    await expectUndisturbed(() => subscribe(freshDestination('/topic/'), { durable: 'true' }), 'DESTINATION_NOT_ALLOWED', 'x-queue-name');
    await expectUndisturbed(() => subscribe(freshDestination('/topic/'), { persistent: 'True' }), 'DESTINATION_NOT_ALLOWED', 'x-queue-name');
    await expectUndisturbed(() => subscribe('/exchange/amq.topic/k', { durable: 'true', 'auto-delete': 'false' }), 'DESTINATION_NOT_ALLOWED', 'x-queue-name');
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
    const other = new RabbitMqBroker({ endpoint: parseBrokerUrl(node.brokerUrl), poolSize: 1, heartbeatMs: 0 });
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
    const other = new RabbitMqBroker({ endpoint: parseBrokerUrl(node.brokerUrl), poolSize: 1, heartbeatMs: 0 });
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
