/**
 * The contract every {@link Broker} engine passes: one suite, built from a factory, run against the
 * embedded broker (test/unit/broker) and a real RabbitMQ (test/integration/rabbitmq).
 *
 * It asserts only what the Broker interface promises AND RabbitMQ 3.10's STOMP plugin does, so it
 * never pins an engine quirk: no checks of `destination` for exchange deliveries (RabbitMQ reports
 * `/topic/k` for `/exchange/amq.topic/k`), no message-id equality across redeliveries, no exact
 * header sets (RabbitMQ adds some), no topic NACK behaviour. Engine-specific behaviour is tested
 * next to each engine.
 *
 * Every test uses fresh random destinations, and waits for events with a bound; the few absence
 * checks that no event can prove use a short {@link quietPeriod}.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { AckMode, Broker, Consumer, Delivery, ReplyAddress, Subscriber } from '../../server/broker/broker';
import { headers as makeHeaders } from '../../server/codec/frame';
import { RecordingSink } from './recording-sink';
import { publish as publishTo, subscribe as subscribeTo } from './requests';
import { expectRelayError, freshDestination, quietPeriod, waitUntil } from './wait';

/** A broker for one test, and how to dispose of it. */
export interface BrokerFixture {
  /** Started and ready (`ready === true`) when the factory resolves. */
  broker: Broker;
  /** Stops the broker and frees whatever the fixture made. Must tolerate the broker already stopped. */
  teardown(): Promise<void>;
}

/**
 * Headers a BrokerMessage must not show: the session adds the first three to each MESSAGE frame
 * (see BrokerMessage.headers), and `receipt` belongs to the publisher's SEND (RabbitMQ copies a
 * SEND's `receipt` into the MESSAGE frames it delivers, so an engine must drop it).
 */
const NOT_SHOWN_HEADERS = ['subscription', 'ack', 'message-id', 'receipt'];

export function brokerContract(name: string, factory: () => Promise<BrokerFixture>): void {
  describe(`${name} broker contract`, function () {
    let fixture: BrokerFixture | undefined;
    let broker: Broker;

    beforeEach(async function () {
      fixture = await factory();
      broker = fixture.broker;
    });

    afterEach(async function () {
      const done = fixture;
      fixture = undefined;
      await done?.teardown();
    });

    const subscribe = (destination: string, sink: RecordingSink, ack: AckMode = 'auto', extra: Record<string, string> = {}): Promise<Consumer> =>
      subscribeTo(broker, destination, sink, ack, extra);
    const publish = (destination: string, body: string | Buffer, extra: Record<string, string> = {}, confirm = true): Promise<void> =>
      publishTo(broker, destination, body, extra, { confirm });

    function redelivered(delivery: Delivery): boolean {
      return delivery.message.headers.redelivered === 'true';
    }

    it('is ready once started', function () {
      expect(broker.ready).to.equal(true);
      expect(['memory', 'rabbitmq']).to.include(broker.kind);
    });

    describe('topics', function () {
      it('fans a message out to every subscriber with its headers and binary body intact', async function () {
        const topic = freshDestination('/topic/');
        const sinks = [new RecordingSink('a'), new RecordingSink('b'), new RecordingSink('c')];
        for (const sink of sinks) await subscribe(topic, sink);
        const body = Buffer.concat([Buffer.from([0, 0, 1, 0, 0xff, 0xfe, 0x0a, 0x0d, 0x00]), randomBytes(2048), Buffer.from([0])]);
        const sent = { 'content-type': 'application/octet-stream', 'app-trace': 'order:42', 'app-note': 'héllo wörld' };

        await publish(topic, body, sent);

        for (const sink of sinks) {
          const [delivery] = await sink.waitFor(1);
          const { message } = delivery;
          expect(message.body.equals(body), `${sink.label} body`).to.equal(true);
          expect(message.destination).to.equal(topic);
          expect(message.headers).to.include(sent);
          expect(message.headers.redelivered, 'RabbitMQ marks every first delivery, topics too').to.equal('false');
          for (const owned of NOT_SHOWN_HEADERS) expect(message.headers).not.to.have.property(owned);
          expect(message.messageId).to.be.a('string').and.not.equal('');
          expect(delivery.ackId, 'auto-ack deliveries carry no ack id').to.equal(undefined);
        }
      });

      it('gives a subscription only what is published after it subscribed', async function () {
        const topic = freshDestination('/topic/');
        const early = new RecordingSink('early');
        const late = new RecordingSink('late');
        await subscribe(topic, early);

        await publish(topic, 'before');
        await subscribe(topic, late);
        await publish(topic, 'after');

        // Order is guaranteed per publisher, so once 'after' arrives 'before' would already have.
        await late.waitFor(1);
        await early.waitFor(2);
        expect(late.bodies()).to.deep.equal(['after']);
        expect(early.bodies()).to.deep.equal(['before', 'after']);
      });

      it('delivers a message published right after subscribe resolves', async function () {
        const topic = freshDestination('/topic/');
        const sink = new RecordingSink();
        await subscribe(topic, sink);
        await publish(topic, 'first', {}, false);
        await sink.waitFor(1);
        expect(sink.bodies()).to.deep.equal(['first']);
      });

      it('stops delivering to a closed subscription and keeps delivering to the others', async function () {
        const topic = freshDestination('/topic/');
        const closing = new RecordingSink('closing');
        const staying = new RecordingSink('staying');
        const consumer = await subscribe(topic, closing);
        await subscribe(topic, staying);
        await publish(topic, 'm1');
        await closing.waitFor(1);

        await consumer.close();
        await consumer.close(); // idempotent
        await publish(topic, 'm2');
        await publish(topic, 'm3');

        await staying.waitFor(3);
        await quietPeriod();
        expect(staying.bodies()).to.deep.equal(['m1', 'm2', 'm3']);
        expect(closing.bodies()).to.deep.equal(['m1']);
      });

      it('hands plain auto-ack subscribers of one topic one shared Delivery object per message (message-encoder.ts encodes it once)', async function () {
        const topic = freshDestination('/topic/');
        const sinks = [new RecordingSink('a'), new RecordingSink('b'), new RecordingSink('c')];
        for (const sink of sinks) await subscribe(topic, sink);
        await publish(topic, 'one');
        await publish(topic, 'two');
        const received = await Promise.all(sinks.map((sink) => sink.waitFor(2)));
        for (const deliveries of received) {
          expect(deliveries[0], 'first message').to.equal(received[0][0]);
          expect(deliveries[1], 'second message').to.equal(received[0][1]);
        }
        expect(received[0][0]).to.not.equal(received[0][1]);
      });

      it('fans out on an exchange destination (/exchange/amq.topic/<key>)', async function () {
        const destination = freshDestination('/exchange/amq.topic/');
        const sinks = [new RecordingSink('a'), new RecordingSink('b')];
        for (const sink of sinks) await subscribe(destination, sink);

        await publish(destination, 'via exchange', { 'content-type': 'text/plain' });

        for (const sink of sinks) {
          const [delivery] = await sink.waitFor(1);
          expect(delivery.message.body.toString()).to.equal('via exchange');
          expect(delivery.message.headers['content-type']).to.equal('text/plain');
          expect(delivery.message.headers.redelivered).to.equal('false');
        }
      });
    });

    describe('queues', function () {
      it('delivers each message exactly once across competing consumers', async function () {
        const queue = freshDestination('/queue/');
        const sinks = [new RecordingSink('c1'), new RecordingSink('c2'), new RecordingSink('c3')];
        for (const sink of sinks) await subscribe(queue, sink);
        const expected = Array.from({ length: 30 }, (_, i) => `job-${String(i).padStart(2, '0')}`);

        for (const body of expected) await publish(queue, body);

        const total = (): number => sinks.reduce((n, s) => n + s.deliveries.length, 0);
        await waitUntil(() => total() >= expected.length, () => `${total()} of ${expected.length} delivered`);
        await quietPeriod(); // duplicates would show up here
        const received = sinks.flatMap((s) => s.bodies()).sort();
        expect(received).to.deep.equal(expected);
        const used = sinks.filter((s) => s.deliveries.length > 0).length;
        expect(used, 'messages spread over consumers').to.be.at.least(2);
      });

      it('holds messages published before any consumer and delivers them in order', async function () {
        const queue = freshDestination('/queue/');
        for (const body of ['q1', 'q2', 'q3']) await publish(queue, body, { 'content-type': 'text/plain' });

        const sink = new RecordingSink();
        await subscribe(queue, sink);

        const deliveries = await sink.waitFor(3);
        expect(sink.bodies()).to.deep.equal(['q1', 'q2', 'q3']);
        expect(deliveries[0].message.destination).to.equal(queue);
        expect(deliveries[0].message.headers['content-type']).to.equal('text/plain');
        expect(deliveries.map((d) => d.message.headers.redelivered), 'first deliveries say so').to.deep.equal(['false', 'false', 'false']);
      });

      it('sends later messages to the remaining consumers once one closes', async function () {
        const queue = freshDestination('/queue/');
        const closing = new RecordingSink('closing');
        const staying = new RecordingSink('staying');
        const consumer = await subscribe(queue, closing);
        await subscribe(queue, staying);

        await consumer.close();
        for (let i = 0; i < 6; i++) await publish(queue, `m${i}`);

        await staying.waitFor(6);
        expect(closing.deliveries).to.have.length(0);
      });

      it('client-individual: ACK settles one message, NACK redelivers it marked redelivered', async function () {
        const queue = freshDestination('/queue/');
        const sink = new RecordingSink();
        const consumer = await subscribe(queue, sink, 'client-individual');
        await publish(queue, 'a');
        await publish(queue, 'b');

        const [a, b] = await sink.waitFor(2);
        expect(sink.bodies()).to.deep.equal(['a', 'b']);
        expect(a.ackId).to.be.a('string');
        expect(b.ackId).to.be.a('string').and.not.equal(a.ackId);
        expect([a, b].map((d) => d.message.headers.redelivered), 'first deliveries are not redelivered').to.deep.equal(['false', 'false']);

        expect(consumer.ack(a.ackId as string)).to.equal(true);
        expect(consumer.ack(a.ackId as string), 'already settled').to.equal(false);
        expect(consumer.ack('no-such-ack-id'), 'unknown id').to.equal(false);
        expect(consumer.nack('no-such-ack-id'), 'unknown id').to.equal(false);
        expect(consumer.nack(b.ackId as string)).to.equal(true);

        const again = (await sink.waitFor(3))[2];
        expect(again.message.body.toString()).to.equal('b');
        expect(again.message.headers.redelivered).to.equal('true');
        expect(again.ackId).to.be.a('string');
        expect(consumer.ack(again.ackId as string)).to.equal(true);

        // Both are settled: a new consumer's first message is the next one published.
        await consumer.close();
        const next = new RecordingSink('next');
        await subscribe(queue, next);
        await publish(queue, 'c');
        await next.waitFor(1);
        expect(next.bodies()).to.deep.equal(['c']);
      });

      it('NACK with { requeue: false } drops the message instead of putting it back (client-individual, and client cumulatively)', async function () {
        // RabbitMQ: basic.nack with requeue=false (dead-lettered when the queue has a dead-letter
        // exchange, else dropped). Had anything been requeued, it would be at the head of the queue.
        for (const mode of ['client-individual', 'client'] as const) {
          const queue = freshDestination('/queue/');
          const sink = new RecordingSink(mode);
          const consumer = await subscribe(queue, sink, mode);
          for (const body of ['m1', 'm2', 'm3']) await publish(queue, body);
          const [m1, m2, m3] = await sink.waitFor(3);

          if (mode === 'client-individual') {
            expect(consumer.nack(m2.ackId as string, { requeue: false }), mode).to.equal(true);
            expect(consumer.nack(m2.ackId as string, { requeue: false }), 'already settled').to.equal(false);
            expect(consumer.ack(m1.ackId as string)).to.equal(true);
          } else {
            // Cumulative: m1 and m2 are dropped together.
            expect(consumer.nack(m2.ackId as string, { requeue: false }), mode).to.equal(true);
            expect(consumer.ack(m1.ackId as string), 'm1 was settled by the NACK of m2').to.equal(false);
          }
          expect(consumer.ack(m3.ackId as string)).to.equal(true);
          // A requeued message would come straight back to this, the queue's only consumer.
          await quietPeriod();
          expect(sink.bodies(), `${mode}: nothing came back to the consumer that NACKed`).to.deep.equal(['m1', 'm2', 'm3']);
          await consumer.close();

          const next = new RecordingSink(`${mode} next`);
          await subscribe(queue, next);
          await publish(queue, 'm4');
          await next.waitFor(1);
          await quietPeriod();
          expect(next.bodies(), mode).to.deep.equal(['m4']);
        }
      });

      it('client: ACK is cumulative, and what stays unacked comes back when the consumer closes', async function () {
        const queue = freshDestination('/queue/');
        const sink = new RecordingSink();
        const consumer = await subscribe(queue, sink, 'client');
        for (const body of ['m1', 'm2', 'm3']) await publish(queue, body);

        const [m1, m2] = await sink.waitFor(3);
        expect(consumer.ack(m2.ackId as string)).to.equal(true);
        expect(consumer.ack(m1.ackId as string), 'm1 was settled by the ack of m2').to.equal(false);
        await consumer.close();

        const next = new RecordingSink('next');
        await subscribe(queue, next);
        await publish(queue, 'm4');
        const [first, second] = await next.waitFor(2);
        // Had m1 or m2 come back they would be at the head of the queue, among the first two.
        expect([first, second].map((d) => d.message.body.toString()).sort()).to.deep.equal(['m3', 'm4']);
        const m3 = first.message.body.toString() === 'm3' ? first : second;
        expect(m3.message.headers.redelivered).to.equal('true');
      });

      it('client: ACK with { only: true } settles that delivery alone, not the earlier ones', async function () {
        const queue = freshDestination('/queue/');
        const sink = new RecordingSink();
        const consumer = await subscribe(queue, sink, 'client');
        for (const body of ['m1', 'm2', 'm3']) await publish(queue, body);

        const [, m2] = await sink.waitFor(3);
        expect(consumer.ack(m2.ackId as string, { only: true })).to.equal(true);
        await consumer.close();

        const next = new RecordingSink('next');
        await subscribe(queue, next);
        await publish(queue, 'm4');
        const got = await next.waitFor(3);
        // m1 and m3 stayed unacked and come back; m2 alone was settled.
        expect(got.map((d) => d.message.body.toString()).sort()).to.deep.equal(['m1', 'm3', 'm4']);
      });

      it('redelivers unacked messages of a closed consumer to another consumer, marked redelivered', async function () {
        const queue = freshDestination('/queue/');
        const holder = new RecordingSink('holder');
        const holding = await subscribe(queue, holder, 'client-individual');
        await publish(queue, 'precious', { 'content-type': 'text/plain' });
        const [held] = await holder.waitFor(1);

        const other = new RecordingSink('other');
        await subscribe(queue, other);
        await holding.close();

        const [delivery] = await other.waitFor(1);
        expect(delivery.message.body.toString()).to.equal('precious');
        expect(delivery.message.headers.redelivered).to.equal('true');
        expect(delivery.message.headers['content-type']).to.equal('text/plain');
        expect(holding.ack(held.ackId as string), 'ack after close').to.equal(false);
      });

      it('prefetch-count=1 allows one unacked message per consumer', async function () {
        const queue = freshDestination('/queue/');
        const slow = new RecordingSink('slow');
        const slowConsumer = await subscribe(queue, slow, 'client-individual', { 'prefetch-count': '1' });
        for (const body of ['p1', 'p2', 'p3']) await publish(queue, body);
        const [p1] = await slow.waitFor(1);

        // If the slow consumer had taken more than one, these would never reach the second consumer.
        const fast = new RecordingSink('fast');
        await subscribe(queue, fast);
        await fast.waitFor(2);

        expect(slow.bodies()).to.deep.equal(['p1']);
        expect(fast.bodies()).to.deep.equal(['p2', 'p3']);
        expect(slowConsumer.ack(p1.ackId as string)).to.equal(true);
      });

      it('takes prefetch-count as a whole number up to 65535 and refuses anything else with INVALID_HEADER', async function () {
        for (const value of ['-1', 'ten', '', '1.5', ' 1', '65536', '99999999999']) {
          await expectRelayError(subscribe(freshDestination('/queue/'), new RecordingSink(), 'client', { 'prefetch-count': value }), 'INVALID_HEADER');
        }
        const sink = new RecordingSink('65535');
        const queue = freshDestination('/queue/');
        await subscribe(queue, sink, 'client', { 'prefetch-count': '65535' });
        await publish(queue, 'fits');
        await sink.waitFor(1);
      });

      it('applies prefetch-count only to the subscription that asked for it', async function () {
        // RabbitMQ's STOMP plugin sets prefetch with basic.qos on the connection's channel, which
        // later subscriptions on that connection inherit unless they send their own.
        const limitedQueue = freshDestination('/queue/');
        const freeQueue = freshDestination('/queue/');
        const limited = new RecordingSink('limited');
        const free = new RecordingSink('free');
        await subscribe(limitedQueue, limited, 'client-individual', { 'prefetch-count': '1' });
        await subscribe(freeQueue, free, 'client-individual');

        for (const body of ['f1', 'f2', 'f3']) await publish(freeQueue, body);

        await free.waitFor(3);
        expect(free.bodies()).to.deep.equal(['f1', 'f2', 'f3']);
      });

      it('client: ACK and NACK settle only their own subscription’s deliveries', async function () {
        // RabbitMQ acks `client` mode with `multiple = true`, which reaches every earlier delivery
        // on the same connection, other subscriptions' included.
        const queueA = freshDestination('/queue/');
        const queueB = freshDestination('/queue/');
        const sinkA = new RecordingSink('a');
        const sinkB = new RecordingSink('b');
        const consumerB = await subscribe(queueB, sinkB, 'client');
        const consumerA = await subscribe(queueA, sinkA, 'client');
        await publish(queueB, 'b1');
        await sinkB.waitFor(1);
        await publish(queueA, 'a1');
        await publish(queueA, 'a2');
        const [a1, a2] = await sinkA.waitFor(2);

        expect(consumerA.nack(a1.ackId as string)).to.equal(true);
        const [, , again] = await sinkA.waitFor(3);
        expect(again.message.body.toString()).to.equal('a1');
        expect(again.message.headers.redelivered).to.equal('true');
        // b1 was not NACKed: B's next delivery is the next message published, not b1 again.
        await publish(queueB, 'b2');
        await sinkB.waitFor(2);
        expect(sinkB.bodies()).to.deep.equal(['b1', 'b2']);

        expect(consumerA.ack(a2.ackId as string)).to.equal(true);
        // b1 and b2 were not ACKed: closing B returns them to the queue.
        await consumerB.close();
        const nextB = new RecordingSink('next-b');
        await subscribe(queueB, nextB);
        await nextB.waitFor(2);
        expect(nextB.bodies()).to.deep.equal(['b1', 'b2']);
        expect(nextB.deliveries.every(redelivered)).to.equal(true);
      });
    });

    describe('ordering', function () {
      it('keeps one publisher’s order to every subscription over 200 messages', async function () {
        const topic = freshDestination('/topic/');
        const queue = freshDestination('/queue/');
        const topicSinks = [new RecordingSink('topic-1'), new RecordingSink('topic-2')];
        const queueSink = new RecordingSink('queue');
        for (const sink of topicSinks) await subscribe(topic, sink);
        await subscribe(queue, queueSink);
        const expected = Array.from({ length: 200 }, (_, i) => String(i));

        // Issued back to back without awaiting each one: the engine, not the test, keeps the order.
        const pending: Array<Promise<void>> = [];
        for (const body of expected) {
          pending.push(publish(topic, body, {}, false));
          pending.push(publish(queue, body, {}, false));
        }
        await Promise.all(pending);

        for (const sink of [...topicSinks, queueSink]) {
          await sink.waitFor(200);
          expect(sink.bodies(), sink.label).to.deep.equal(expected);
        }
        const ids = new Set(topicSinks[0].deliveries.map((d) => d.message.messageId));
        expect(ids.size, 'message ids are unique').to.equal(200);
      });
    });

    describe('publishing', function () {
      it('resolves a confirmed publish, with or without subscribers', async function () {
        const topic = freshDestination('/topic/');
        const queue = freshDestination('/queue/');
        await publish(topic, 'nobody listens', {}, true);
        await publish(queue, 'kept', {}, true);

        const sink = new RecordingSink();
        await subscribe(queue, sink);
        await sink.waitFor(1);
        expect(sink.bodies()).to.deep.equal(['kept']);
      });

      it('mandatory: rejects with NO_ROUTE when no subscription takes the message, delivers it once one does', async function () {
        const topic = freshDestination('/topic/');
        await expectRelayError(publishTo(broker, topic, 'nobody', {}, { confirm: true, mandatory: true }), 'NO_ROUTE');
        const sink = new RecordingSink();
        await subscribe(topic, sink);
        await publishTo(broker, topic, 'taken', {}, { confirm: true, mandatory: true });
        await sink.waitFor(1);
        expect(sink.bodies()).to.deep.equal(['taken']);
      });

      it('publishMandatory: resolves false where a mandatory publish gets NO_ROUTE, true once delivered (queues always); a stopped broker still rejects', async function () {
        const topic = freshDestination('/topic/');
        const request = (body: string) => ({ destination: topic, headers: makeHeaders({}), body: Buffer.from(body) });
        expect(broker.publishMandatory, 'both engines have the capability').to.be.a('function');
        expect(await broker.publishMandatory!(request('nobody'), { confirm: true })).to.equal(false);
        const sink = new RecordingSink();
        await subscribe(topic, sink);
        expect(await broker.publishMandatory!(request('taken'), { confirm: true })).to.equal(true);
        await sink.waitFor(1);
        expect(sink.bodies()).to.deep.equal(['taken']);
        const queue = freshDestination('/queue/');
        expect(await broker.publishMandatory!({ destination: queue, headers: makeHeaders({}), body: Buffer.from('kept') }, { confirm: true }), 'queues always route').to.equal(true);
        await broker.stop();
        await expectRelayError(broker.publishMandatory!(request('stopped')), 'BROKER_UNAVAILABLE');
      });

      it('mandatory: refuses the headers a plain publish refuses (bad expiration, priority), and the routes keep working', async function () {
        // User pushes are mandatory publishes; on RabbitMQ they take the AMQP route link, where a
        // bad `expiration` would be a channel error shared by every push, not one refusal.
        const topic = freshDestination('/topic/');
        const sink = new RecordingSink();
        await subscribe(topic, sink);
        const request = (body: string, init: Record<string, string> = {}) => ({ destination: topic, headers: makeHeaders(init), body: Buffer.from(body) });
        await expectRelayError(broker.publish(request('plain', { expiration: 'soon' }), { confirm: true }), 'INVALID_HEADER');
        await expectRelayError(broker.publish(request('bad', { expiration: 'soon' }), { confirm: true, mandatory: true }), 'INVALID_HEADER');
        await expectRelayError(broker.publishMandatory!(request('bad', { expiration: '-1' }), { confirm: true }), 'INVALID_HEADER');
        await expectRelayError(broker.publishMandatory!(request('bad', { priority: 'high' }), { confirm: true }), 'INVALID_HEADER');
        expect(await broker.publishMandatory!(request('good', { expiration: '60000' }), { confirm: true })).to.equal(true);
        await sink.waitFor(1);
        expect(sink.bodies()).to.deep.equal(['good']);
      });
    });

    describe('reply addresses', function () {
      /** The queue name behind an address: what follows `/reply-queue/`. */
      function nameOf(address: ReplyAddress): string {
        expect(address.destination.startsWith('/reply-queue/'), address.destination).to.equal(true);
        return address.destination.slice('/reply-queue/'.length);
      }

      it('carries a request’s reply, sent to the address it names in reply-to, back to the requester', async function () {
        const requests = freshDestination('/queue/');
        const requester = new RecordingSink('requester');
        const responder = new RecordingSink('responder');
        const address = await broker.openReplyAddress(requester);
        await subscribe(requests, responder);
        responder.onDeliver = (delivery) => {
          const replyTo = delivery.message.headers['reply-to'];
          void publish(replyTo, `re: ${delivery.message.body.toString()}`, { 'content-type': 'text/plain', 'app-correlation': delivery.message.headers['app-correlation'] });
        };

        await publish(requests, 'ping', { 'reply-to': address.destination, 'app-correlation': 'c-1' });

        const [request] = await responder.waitFor(1);
        expect(request.message.headers['reply-to'], 'reply-to reaches the responder unchanged').to.equal(address.destination);
        const [reply] = await requester.waitFor(1);
        expect(reply.message.body.toString()).to.equal('re: ping');
        expect(reply.message.destination).to.equal(address.destination);
        expect(reply.message.headers).to.include({ 'content-type': 'text/plain', 'app-correlation': 'c-1', redelivered: 'false' });
        for (const owned of NOT_SHOWN_HEADERS) expect(reply.message.headers).not.to.have.property(owned);
        expect(reply.ackId, 'replies are auto-ack').to.equal(undefined);
        await address.close();
      });

      it('keeps each address’s replies to its own sink, in order', async function () {
        const sinks = [new RecordingSink('a'), new RecordingSink('b')];
        const [a, b] = await Promise.all(sinks.map((sink) => broker.openReplyAddress(sink)));
        expect(a.destination).not.to.equal(b.destination);
        for (let i = 0; i < 5; i++) {
          await publish(a.destination, `a${i}`, {}, false);
          await publish(b.destination, `b${i}`, {}, false);
        }
        await sinks[0].waitFor(5);
        await sinks[1].waitFor(5);
        await quietPeriod();
        expect(sinks[0].bodies()).to.deep.equal(['a0', 'a1', 'a2', 'a3', 'a4']);
        expect(sinks[1].bodies()).to.deep.equal(['b0', 'b1', 'b2', 'b3', 'b4']);
        await Promise.all([a.close(), b.close()]);
      });

      it('cannot be read by anyone else: its queue is refused for SUBSCRIBE and for SEND as a queue', async function () {
        const owner = new RecordingSink('owner');
        const address = await broker.openReplyAddress(owner);
        const name = nameOf(address);
        for (const destination of [`/queue/${name}`, `/amq/queue/${name}`, address.destination]) {
          const error = await expectRelayError(subscribe(destination, new RecordingSink('thief')), 'DESTINATION_NOT_ALLOWED');
          expect(error.message).to.include(destination);
        }
        await expectRelayError(publish(`/queue/${name}`, 'x'), 'DESTINATION_NOT_ALLOWED');
        await publish(address.destination, 'still mine');
        await owner.waitFor(1);
        expect(owner.bodies()).to.deep.equal(['still mine']);
        expect(owner.cancellations).to.deep.equal([]);
        await address.close();
      });

      it('drops replies once closed (the publisher is not told), and close is idempotent', async function () {
        const sink = new RecordingSink();
        const address = await broker.openReplyAddress(sink);
        await publish(address.destination, 'before');
        await sink.waitFor(1);
        await address.close();
        await address.close();
        await publish(address.destination, 'after');
        await quietPeriod();
        expect(sink.bodies()).to.deep.equal(['before']);
        expect(sink.cancellations).to.deep.equal([]);
      });

      it('refuses a publish whose reply-to names a /temp-queue/ (a temporary queue needs a reply address)', async function () {
        const queue = freshDestination('/queue/');
        await expectRelayError(publish(queue, 'x', { 'reply-to': '/temp-queue/answers' }), 'INVALID_HEADER');
        const error = await expectRelayError(subscribe('/temp-queue/answers', new RecordingSink()), 'DESTINATION_NOT_ALLOWED');
        expect(error.message).to.include('temporary queue');
        // Nothing was queued by the refused publish.
        const sink = new RecordingSink();
        await subscribe(queue, sink);
        await publish(queue, 'next');
        await sink.waitFor(1);
        expect(sink.bodies()).to.deep.equal(['next']);
      });
    });

    describe('exclusive queues (rx-stomp\'s reply queues)', function () {
      const REPLY_FLAGS = { durable: 'false', 'auto-delete': 'true', exclusive: 'true' };
      const as = (session: string, id = 'replies'): Subscriber => ({ session, user: `user-${session}`, id });

      function subscribeAs(subscriber: Subscriber, destination: string, sink: RecordingSink, extra: Record<string, string> = REPLY_FLAGS): Promise<Consumer> {
        return broker.subscribe({ destination, ack: 'auto', headers: makeHeaders(extra), subscriber }, sink);
      }

      for (const flags of [REPLY_FLAGS, { durable: 'false' }, { exclusive: 'true' }] as Array<Record<string, string>>) {
        it(`belong to the session that declared them (${JSON.stringify(flags)}): plain SENDs reach them, nobody else may consume them`, async function () {
          const queue = freshDestination('/queue/');
          const owner = new RecordingSink('owner');
          const consumer = await subscribeAs(as('a'), queue, owner, flags);
          // What a responder sends: a plain SEND to the reply-to it got, with and without a receipt.
          await publish(queue, 'reply 1');
          await publish(queue, 'reply 2', { 'correlation-id': 'c-2' }, false);
          await owner.waitFor(2);

          const name = queue.slice('/queue/'.length);
          for (const [destination, extra] of [[queue, flags], [queue, {}], [`/amq/queue/${name}`, {}]] as Array<[string, Record<string, string>]>) {
            await expectRelayError(subscribeAs(as('b'), destination, new RecordingSink('thief'), extra), 'DESTINATION_NOT_ALLOWED');
          }
          await publish(queue, 'reply 3');
          await owner.waitFor(3);
          expect(owner.bodies()).to.deep.equal(['reply 1', 'reply 2', 'reply 3']);
          expect(owner.deliveries[1].message.headers['correlation-id']).to.equal('c-2');
          expect(owner.cancellations).to.deep.equal([]);
          await consumer.close();
        });
      }

      it('let the owning session hold several, and other sessions their own', async function () {
        const [first, second, other] = [freshDestination('/queue/'), freshDestination('/queue/'), freshDestination('/queue/')];
        const sinks = [new RecordingSink('a first'), new RecordingSink('a second'), new RecordingSink('b own')];
        const consumers = [
          await subscribeAs(as('a', 'r1'), first, sinks[0]),
          await subscribeAs(as('a', 'r2'), second, sinks[1]),
          await subscribeAs(as('b'), other, sinks[2]),
        ];
        await publish(first, 'one');
        await publish(second, 'two');
        await publish(other, 'three');
        await Promise.all(sinks.map((sink) => sink.waitFor(1)));
        expect(sinks.map((sink) => sink.bodies())).to.deep.equal([['one'], ['two'], ['three']]);
        // One of a's subscriptions ending leaves its other one in place.
        await consumers[0].close();
        await publish(second, 'two again');
        await sinks[1].waitFor(2);
        await Promise.all(consumers.slice(1).map((c) => c.close()));
      });
    });

    describe('durable topic subscriptions', function () {
      const DURABLE = { durable: 'true', 'auto-delete': 'false' };

      function subscribeDurable(user: string | undefined, destination: string, sink: RecordingSink, id = 'news', extra: Record<string, string> = DURABLE): Promise<Consumer> {
        const subscriber: Subscriber = { session: `session-${randomBytes(4).toString('hex')}`, user, id };
        return broker.subscribe({ destination, ack: 'client-individual', headers: makeHeaders(extra), subscriber }, sink);
      }

      it('keep what is published while the user is away, for that user, destination and id only; UNSUBSCRIBE durable removes them', async function () {
        const topic = freshDestination('/topic/');
        const alice = `alice-${randomBytes(4).toString('hex')}`;
        const bob = `bob-${randomBytes(4).toString('hex')}`;
        const gone = await subscribeDurable(alice, topic, new RecordingSink('alice, first visit'));
        await gone.close(); // she disconnects: the subscription's queue stays
        await publish(topic, 'while away');

        // Bob, with the same subscription id, attaches to a queue of his own: nothing of hers.
        const atBob = new RecordingSink('bob');
        const bobs = await subscribeDurable(bob, topic, atBob, 'news', { persistent: 'true' });
        const back = new RecordingSink('alice is back');
        const hers = await subscribeDurable(alice, topic, back);
        const [kept] = await back.waitFor(1);
        expect(kept.message.body.toString()).to.equal('while away');
        expect(hers.ack(kept.ackId as string)).to.equal(true);
        await publish(topic, 'live');
        await back.waitFor(2);
        const [live] = await atBob.waitFor(1);
        expect(atBob.bodies(), 'bob got only what came after he subscribed').to.deep.equal(['live']);
        bobs.ack(live.ackId as string);
        hers.ack(back.deliveries[1].ackId as string);

        // Another id is another subscription.
        const elsewhere = new RecordingSink('alice, other id');
        const other = await subscribeDurable(alice, topic, elsewhere, 'other-id');
        await quietPeriod();
        expect(elsewhere.bodies()).to.deep.equal([]);

        // UNSUBSCRIBE with durable:true deletes her queue: what is published next waits for nobody.
        await hers.close({ removeDurable: true });
        await publish(topic, 'after removal');
        const fresh = new RecordingSink('alice, after removal');
        const again = await subscribeDurable(alice, topic, fresh);
        await publish(topic, 'new');
        const [first] = await fresh.waitFor(1);
        expect(first.message.body.toString()).to.equal('new');
        for (const c of [again, bobs, other]) await c.close({ removeDurable: true });
      });

      it('are refused for anonymous subscribers, and on /exchange/ without x-queue-name', async function () {
        const anonymous = await expectRelayError(subscribeDurable(undefined, freshDestination('/topic/'), new RecordingSink()), 'DESTINATION_NOT_ALLOWED');
        expect(anonymous.message).to.include('anonymous');
        const exchange = await expectRelayError(subscribeDurable('alice', freshDestination('/exchange/amq.topic/'), new RecordingSink()), 'DESTINATION_NOT_ALLOWED');
        expect(exchange.message).to.include('x-queue-name');
      });
    });

    describe('reserved names', function () {
      /** Queue names the relay or RabbitMQ's STOMP plugin generate (server/broker/reserved-names.ts). */
      const generated = ['stomp-relay.s1.0a1b2c3d4e5f', 'stomp-relay.durable.abc', 'stomp-subscription-Ab_c', 'amq.gen-Xy1'];
      /** The same name in the spellings a client might try: RabbitMQ decodes percent-escapes in names. */
      const spellings = (name: string): string[] => [name, `%${name.charCodeAt(0).toString(16)}${name.slice(1)}`, name.replace('-', '%2D').replace('.', '%2e')];

      it('refuses the generated queue names under /amq/queue/ and /queue/, for SUBSCRIBE and SEND, in every spelling', async function () {
        for (const name of generated) {
          for (const spelled of spellings(name)) {
            for (const destination of [`/amq/queue/${spelled}`, `/queue/${spelled}`, `/amq%2Fqueue%2F${spelled}`]) {
              const error = await expectRelayError(subscribe(destination, new RecordingSink('thief')), 'DESTINATION_NOT_ALLOWED');
              expect(error.message, destination).to.include('reserved');
              await expectRelayError(publish(destination, 'forged'), 'DESTINATION_NOT_ALLOWED');
            }
            // Through the default exchange (a reply's path), a SEND would slip a message into the queue.
            await expectRelayError(publish(`/reply-queue/${spelled}`, 'forged'), 'DESTINATION_NOT_ALLOWED');
          }
        }
      });

      it('refuses them as a subscription\'s x-queue-name, in every spelling and on every kind of destination', async function () {
        for (const name of generated) {
          for (const spelled of spellings(name)) {
            for (const destination of [freshDestination('/topic/'), freshDestination('/exchange/amq.topic/'), freshDestination('/queue/')]) {
              const error = await expectRelayError(subscribe(destination, new RecordingSink('thief'), 'auto', { 'x-queue-name': spelled }), 'DESTINATION_NOT_ALLOWED');
              expect(error.message, `${destination} x-queue-name:${spelled}`).to.include('x-queue-name');
            }
          }
        }
      });

      it('refuses RabbitMQ\'s internal exchanges (amq.rabbitmq.*: the trace firehose, logs, events), in every spelling', async function () {
        for (const destination of [
          '/exchange/amq.rabbitmq.trace/#', '/exchange/amq.rabbitmq.trace', '/exchange/amq.rabbitmq.log/#', '/exchange/amq.rabbitmq.event/queue.*',
          '/exchange/amq%2Erabbitmq.trace/#', '/exchange/%61mq.rabbitmq.trace/publish.x',
        ]) {
          const error = await expectRelayError(subscribe(destination, new RecordingSink('mallory')), 'DESTINATION_NOT_ALLOWED');
          expect(error.message, destination).to.include('reserved');
          await expectRelayError(publish(destination, 'forged'), 'DESTINATION_NOT_ALLOWED');
        }
      });

      it('refuses subscriptions to the headers exchanges (without match arguments they see every message) but lets clients publish there', async function () {
        for (const destination of ['/exchange/amq.headers', '/exchange/amq.headers/k', '/exchange/amq.match', '/exchange/amq%2Ematch/k']) {
          const error = await expectRelayError(subscribe(destination, new RecordingSink('mallory')), 'DESTINATION_NOT_ALLOWED');
          expect(error.message, destination).to.include('headers exchange');
        }
        await publish('/exchange/amq.headers/k', 'for AMQP consumers that match on headers', { kind: 'x' });
      });

      it('still serves names that only look alike', async function () {
        const suffix = randomBytes(4).toString('hex');
        for (const queue of [`/queue/stomp-relay-${suffix}`, `/queue/my.stomp-relay.${suffix}`, `/queue/amq-gen-${suffix}`]) {
          const sink = new RecordingSink(queue);
          const consumer = await subscribe(queue, sink);
          await publish(queue, 'hello');
          await sink.waitFor(1);
          await consumer.close();
        }
      });
    });

    describe('sink.cancelled', function () {
      it('is not called when the caller closes a consumer or a reply address, nor when the broker stops', async function () {
        const topicSink = new RecordingSink('topic');
        const queueSink = new RecordingSink('queue');
        const replySink = new RecordingSink('reply');
        const keptSink = new RecordingSink('kept');
        const topic = await subscribe(freshDestination('/topic/'), topicSink);
        const queue = await subscribe(freshDestination('/queue/'), queueSink, 'client-individual');
        const address = await broker.openReplyAddress(replySink);
        await subscribe(freshDestination('/topic/'), keptSink);
        await topic.close();
        await queue.close();
        await address.close();
        await broker.stop();
        for (const sink of [topicSink, queueSink, replySink, keptSink]) expect(sink.cancellations, sink.label).to.deep.equal([]);
      });
    });

    describe('start after stop', function () {
      it('starts again: ready, listeners told, serving new subscriptions; consumers from before stay ended', async function () {
        const topic = freshDestination('/topic/');
        const before = new RecordingSink('before');
        await subscribe(topic, before);
        const changes: boolean[] = [];
        const unregister = broker.onReadyChange((ready) => changes.push(ready));
        await broker.stop();
        await broker.start();
        await waitUntil(() => broker.ready, () => 'the broker to be ready again');
        unregister();
        expect(changes).to.deep.equal([false, true]);

        const after = new RecordingSink('after');
        await subscribe(topic, after);
        await publish(topic, 'again');
        await after.waitFor(1);
        expect(after.bodies()).to.deep.equal(['again']);
        await quietPeriod();
        expect(before.deliveries, 'a consumer ended by stop').to.have.length(0);
        expect(before.cancellations, 'stop is not a cancellation').to.have.length(0);
      });
    });

    describe('stop', function () {
      it('is no longer ready, tells listeners, and refuses publish and subscribe', async function () {
        const changes: boolean[] = [];
        const unregister = broker.onReadyChange((ready) => changes.push(ready));
        await broker.stop();
        unregister();

        expect(broker.ready).to.equal(false);
        expect(changes).to.deep.equal([false]);
        await expectRelayError(publish(freshDestination('/topic/'), 'late'), 'BROKER_UNAVAILABLE');
        await expectRelayError(subscribe(freshDestination('/queue/'), new RecordingSink()), 'BROKER_UNAVAILABLE');
        await expectRelayError(broker.openReplyAddress(new RecordingSink()), 'BROKER_UNAVAILABLE');
        await broker.stop(); // idempotent
        expect(changes).to.deep.equal([false]);
      });
    });
  });
}
