import { expect } from 'chai';
import type { AckMode, Consumer } from '../../../server/broker/broker';
import { MemoryBroker } from '../../../server/broker/memory/memory-broker';
import { headers } from '../../../server/codec/frame';
import { RelayError } from '../../../server/errors';
import { brokerContract } from '../../broker-suite/broker-contract';
import { HISTORY_CONTRACT_OPTIONS, historyContract } from '../../broker-suite/history-contract';
import { RecordingSink } from '../../broker-suite/recording-sink';
import { publish as publishTo, subscribe as subscribeTo } from '../../broker-suite/requests';
import { expectRelayError } from '../../broker-suite/wait';

brokerContract('memory', async () => {
  const broker = new MemoryBroker();
  await broker.start();
  return { broker, teardown: () => broker.stop() };
});

historyContract('memory', async () => {
  const broker = new MemoryBroker({ history: HISTORY_CONTRACT_OPTIONS });
  await broker.start();
  return { broker, teardown: () => broker.stop() };
});

describe('MemoryBroker (embedded engine specifics)', function () {
  let broker: MemoryBroker;

  async function started(options?: ConstructorParameters<typeof MemoryBroker>[0]): Promise<MemoryBroker> {
    broker = new MemoryBroker(options);
    await broker.start();
    return broker;
  }

  const subscribe = (destination: string, sink: RecordingSink, ack: AckMode = 'auto', extra: Record<string, string> = {}) =>
    subscribeTo(broker, destination, sink, ack, extra);
  const publish = (destination: string, body: string, extra: Record<string, string> = {}) => publishTo(broker, destination, body, extra, {});

  afterEach(async function () {
    await broker?.stop();
  });

  describe('destinations', function () {
    const refused = ['/temp-queue/x', '/reply-queue/', '/reply-queue/a/b', '/foo/bar', 'topic/x', '', '/topic/', '/queue/', '/amq/queue/', '/queue/a/b', '/topic/a/b', '/exchange/', '/exchange//k', '/exchange/amq.topic/a/b'];
    for (const destination of refused) {
      it(`refuses ${JSON.stringify(destination)} for publish and subscribe with DESTINATION_NOT_ALLOWED`, async function () {
        await started();
        const error = await expectRelayError(publish(destination, 'x'), 'DESTINATION_NOT_ALLOWED');
        expect(error.message).to.include(destination);
        await expectRelayError(subscribe(destination, new RecordingSink()), 'DESTINATION_NOT_ALLOWED');
      });
    }

    it('takes /reply-queue/<name> for SEND only: to a reply address, else to the queue called <name> (RabbitMQ’s default exchange), else dropped', async function () {
      await started();
      await expectRelayError(subscribe('/reply-queue/jobs', new RecordingSink()), 'DESTINATION_NOT_ALLOWED');
      await publish('/reply-queue/nobody-here', 'dropped');
      const jobs = new RecordingSink('jobs');
      await subscribe('/queue/jobs', jobs);
      await publish('/reply-queue/jobs', 'to the queue');
      await jobs.waitFor(1);
      expect(jobs.bodies()).to.deep.equal(['to the queue']);
    });

    it('delivers a reply sent from inside a delivery after the rest of that fan-out', async function () {
      await started();
      const order: string[] = [];
      const requester = new RecordingSink('requester');
      requester.onDeliver = (d) => order.push(`requester:${d.message.body.toString()}`);
      const address = await broker.openReplyAddress(requester);
      const first = new RecordingSink('first');
      const second = new RecordingSink('second');
      first.onDeliver = (d) => {
        order.push(`first:${d.message.body.toString()}`);
        void broker.publish({ destination: address.destination, headers: headers(), body: Buffer.from('reply') });
      };
      second.onDeliver = (d) => order.push(`second:${d.message.body.toString()}`);
      await subscribe('/topic/requests', first);
      await subscribe('/topic/requests', second);
      await publish('/topic/requests', 'request');
      await requester.waitFor(1);
      expect(order).to.deep.equal(['first:request', 'second:request', 'requester:reply']);
    });

    it('treats /amq/queue/<name> as the same queue as /queue/<name>, keeping the published destination', async function () {
      await started();
      await publish('/amq/queue/jobs', 'from amq');
      const sink = new RecordingSink();
      await subscribe('/queue/jobs', sink);
      const [delivery] = await sink.waitFor(1);
      expect(delivery.message.body.toString()).to.equal('from amq');
      expect(delivery.message.destination).to.equal('/amq/queue/jobs');
    });

    it('accepts an exchange destination without a routing key', async function () {
      await started();
      const sink = new RecordingSink();
      await subscribe('/exchange/amq.fanout', sink);
      await publish('/exchange/amq.fanout', 'all');
      expect(sink.bodies()).to.deep.equal(['all']);
    });

    it('matches topics exactly, without wildcards', async function () {
      await started();
      const wildcard = new RecordingSink('wildcard');
      await subscribe('/topic/news.*', wildcard);
      await publish('/topic/news.sport', 'goal');
      await publish('/topic/news.*', 'literal');
      expect(wildcard.bodies()).to.deep.equal(['literal']);
    });
  });

  describe('delivery', function () {
    it('hands every auto-ack subscriber of a topic the same Delivery object (encode once)', async function () {
      await started();
      const a = new RecordingSink('a');
      const b = new RecordingSink('b');
      const clientAck = new RecordingSink('client');
      await subscribe('/topic/shared', a);
      await subscribe('/topic/shared', b);
      await subscribe('/topic/shared', clientAck, 'client-individual');
      await publish('/topic/shared', 'once');
      expect(a.deliveries[0]).to.equal(b.deliveries[0]);
      expect(clientAck.deliveries[0].ackId).to.be.a('string');
      expect(clientAck.deliveries[0].message).to.equal(a.deliveries[0].message);
    });

    it('keeps a topic right as it goes from one subscriber to three and back to none (a lone one is held without a set)', async function () {
      await started();
      const noRoute = () => broker.publish({ destination: '/topic/grow', headers: headers({}), body: Buffer.from('x') }, { mandatory: true });
      const [a, b, c] = [new RecordingSink('a'), new RecordingSink('b'), new RecordingSink('c')];
      const first = await subscribe('/topic/grow', a);
      await publish('/topic/grow', 'a alone');
      const second = await subscribe('/topic/grow', b);
      const third = await subscribe('/topic/grow', c);
      await publish('/topic/grow', 'all three');
      await first.close();
      await first.close(); // twice: the key must not lose another subscriber
      await publish('/topic/grow', 'b and c');
      await third.close();
      await publish('/topic/grow', 'b alone');
      await second.close();
      await expectRelayError(noRoute(), 'NO_ROUTE');
      // A new lone subscriber after the key emptied: a fresh entry, and only new messages.
      const d = new RecordingSink('d');
      const fourth = await subscribe('/topic/grow', d);
      await publish('/topic/grow', 'd alone');
      expect(a.bodies()).to.deep.equal(['a alone', 'all three']);
      expect(b.bodies()).to.deep.equal(['all three', 'b and c', 'b alone']);
      expect(c.bodies()).to.deep.equal(['all three', 'b and c']);
      expect(d.bodies()).to.deep.equal(['d alone']);
      await fourth.close();
      await expectRelayError(noRoute(), 'NO_ROUTE');
    });

    it('has delivered a topic message to every local subscriber once publish resolves', async function () {
      await started();
      const sink = new RecordingSink();
      await subscribe('/topic/sync', sink);
      await publish('/topic/sync', 'now');
      expect(sink.bodies()).to.deep.equal(['now']);
    });

    it('sends a queue backlog after subscribe resolves, so a RECEIPT can precede the first MESSAGE', async function () {
      await started();
      await publish('/queue/backlog', 'b1');
      await publish('/queue/backlog', 'b2');
      const sink = new RecordingSink();
      await subscribe('/queue/backlog', sink);
      expect(sink.deliveries).to.have.length(0);
      await publish('/queue/backlog', 'b3');
      await sink.waitFor(3);
      expect(sink.bodies()).to.deep.equal(['b1', 'b2', 'b3']);
    });

    it('round-robins a queue strictly over its consumers', async function () {
      await started();
      const sinks = [new RecordingSink('c0'), new RecordingSink('c1'), new RecordingSink('c2')];
      for (const sink of sinks) await subscribe('/queue/rr', sink);
      for (let i = 0; i < 9; i++) await publish('/queue/rr', String(i));
      expect(sinks.map((s) => s.bodies())).to.deep.equal([['0', '3', '6'], ['1', '4', '7'], ['2', '5', '8']]);
    });

    it('copies publish headers and body, and drops headers the session or broker owns', async function () {
      await started();
      const sent = headers({ 'content-type': 'text/plain', 'app-id': '7', receipt: 'r-1', transaction: 'tx', 'message-id': 'forged', subscription: 's', ack: 'a', 'content-length': '4', redelivered: 'true', destination: '/topic/elsewhere' });
      const body = Buffer.from('body');
      await broker.publish({ destination: '/queue/copies', headers: sent, body });
      sent['content-type'] = 'changed';
      body.write('XXXX');

      const sink = new RecordingSink();
      await subscribe('/queue/copies', sink);
      const [{ message }] = await sink.waitFor(1);
      // `redelivered` is the broker's own: the publisher's `true` is replaced by a first delivery's `false`.
      expect({ ...message.headers }).to.deep.equal({ 'content-type': 'text/plain', 'app-id': '7', redelivered: 'false' });
      expect(message.body.toString()).to.equal('body');
      expect(message.messageId).not.to.equal('forged');
    });

    it('keeps delivering to the others when one sink throws', async function () {
      await started();
      const throwing = new RecordingSink('throwing');
      throwing.onDeliver = () => {
        throw new Error('sink bug');
      };
      const healthy = new RecordingSink('healthy');
      await subscribe('/topic/faulty', throwing);
      await subscribe('/topic/faulty', healthy);
      await publish('/topic/faulty', 'm1');
      await publish('/topic/faulty', 'm2');
      expect(healthy.bodies()).to.deep.equal(['m1', 'm2']);
      expect(throwing.bodies()).to.deep.equal(['m1', 'm2']);
    });
  });

  describe('acknowledgements', function () {
    it('client: NACK is cumulative like ACK (RabbitMQ nacks with multiple=true)', async function () {
      await started();
      const sink = new RecordingSink();
      const consumer = await subscribe('/queue/cumulative-nack', sink, 'client');
      for (const body of ['n1', 'n2', 'n3']) await publish('/queue/cumulative-nack', body);
      expect(consumer.nack(sink.deliveries[1].ackId as string)).to.equal(true);
      await sink.waitFor(5);
      expect(sink.bodies()).to.deep.equal(['n1', 'n2', 'n3', 'n1', 'n2']);
      expect(sink.deliveries.slice(3).map((d) => d.message.headers.redelivered)).to.deep.equal(['true', 'true']);
    });

    it('topic: a NACKed message is dropped, not redelivered (topics are at-most-once)', async function () {
      await started();
      const sink = new RecordingSink();
      const consumer = await subscribe('/topic/nack', sink, 'client-individual');
      await publish('/topic/nack', 'first');
      await sink.waitFor(1);
      expect(consumer.nack(sink.deliveries[0].ackId as string)).to.equal(true);
      await publish('/topic/nack', 'second');
      await sink.waitFor(2);
      expect(sink.bodies()).to.deep.equal(['first', 'second']);
    });

    it('topic: prefetch-count holds back deliveries until acked', async function () {
      await started();
      const sink = new RecordingSink();
      const consumer = await subscribe('/topic/prefetch', sink, 'client-individual', { 'prefetch-count': '1' });
      for (const body of ['t1', 't2', 't3']) await publish('/topic/prefetch', body);
      expect(sink.bodies()).to.deep.equal(['t1']);
      consumer.ack(sink.deliveries[0].ackId as string);
      expect(sink.bodies()).to.deep.equal(['t1', 't2']);
      consumer.ack(sink.deliveries[1].ackId as string);
      expect(sink.bodies()).to.deep.equal(['t1', 't2', 't3']);
    });

    it('auto-ack consumers have nothing to ack', async function () {
      await started();
      const sink = new RecordingSink();
      const consumer = await subscribe('/queue/auto', sink);
      await publish('/queue/auto', 'x');
      await sink.waitFor(1);
      expect(consumer.ack('1')).to.equal(false);
      expect(consumer.nack('1')).to.equal(false);
    });

    it('refuses an invalid prefetch-count with INVALID_HEADER', async function () {
      await started();
      for (const value of ['-1', 'ten', '', '1.5']) {
        await expectRelayError(subscribe('/queue/p', new RecordingSink(), 'client', { 'prefetch-count': value }), 'INVALID_HEADER');
      }
    });
  });

  describe('limits', function () {
    it('rejects a publish to a full queue with BROKER_ERROR "queue full", and accepts again once drained', async function () {
      await started({ maxQueuedMessagesPerQueue: 3 });
      for (const body of ['1', '2', '3']) await publish('/queue/bounded', body);
      const error = await expectRelayError(publish('/queue/bounded', '4'), 'BROKER_ERROR');
      expect(error.message).to.include('queue full');

      const sink = new RecordingSink();
      await subscribe('/queue/bounded', sink);
      await sink.waitFor(3);
      await publish('/queue/bounded', '5');
      expect(sink.bodies()).to.deep.equal(['1', '2', '3', '5']);
    });

    it('counts unacked messages against the queue limit until they are acked', async function () {
      await started({ maxQueuedMessagesPerQueue: 2 });
      const sink = new RecordingSink();
      const consumer = await subscribe('/queue/unacked', sink, 'client-individual');
      await publish('/queue/unacked', 'a');
      await publish('/queue/unacked', 'b');
      await expectRelayError(publish('/queue/unacked', 'c'), 'BROKER_ERROR');
      consumer.ack(sink.deliveries[0].ackId as string);
      await publish('/queue/unacked', 'c');
      expect(sink.bodies()).to.deep.equal(['a', 'b', 'c']);
    });

    it('drops messages for a full client-ack topic subscription without failing the publisher', async function () {
      await started({ maxQueuedMessagesPerQueue: 2 });
      const slow = new RecordingSink('slow');
      const fast = new RecordingSink('fast');
      const consumer = await subscribe('/topic/flood', slow, 'client-individual', { 'prefetch-count': '1' });
      await subscribe('/topic/flood', fast);
      for (let i = 1; i <= 5; i++) await publish('/topic/flood', `m${i}`);
      expect(fast.deliveries).to.have.length(5);

      consumer.ack(slow.deliveries[0].ackId as string); // m2 was buffered; m3..m5 were dropped
      consumer.ack(slow.deliveries[1].ackId as string);
      await publish('/topic/flood', 'm6');
      expect(slow.bodies()).to.deep.equal(['m1', 'm2', 'm6']);
    });

    it('refuses nonsensical options with INVALID_CONFIG', function () {
      for (const bad of [0, -1, 1.5, Number.NaN]) {
        expect(() => new MemoryBroker({ maxQueuedMessagesPerQueue: bad })).to.throw(RelayError).with.property('code', 'INVALID_CONFIG');
      }
    });
  });

  describe('re-entrant sinks', function () {
    it('delivers a reply published from inside deliver() after the message it answers, to everyone', async function () {
      await started();
      const replier = new RecordingSink('replier');
      const listener = new RecordingSink('listener');
      replier.onDeliver = (d) => {
        if (d.message.body.toString() === 'question') void publish('/topic/chat', 'answer');
      };
      await subscribe('/topic/chat', replier);
      await subscribe('/topic/chat', listener);
      await publish('/topic/chat', 'question');
      await listener.waitFor(2);
      expect(listener.bodies()).to.deep.equal(['question', 'answer']);
      expect(replier.bodies()).to.deep.equal(['question', 'answer']);
    });

    it('does not give a subscription made inside deliver() the message being delivered', async function () {
      await started();
      const first = new RecordingSink('first');
      const late = new RecordingSink('late');
      first.onDeliver = (d) => {
        if (d.message.body.toString() === 'm1') void subscribe('/topic/join-inside', late);
      };
      await subscribe('/topic/join-inside', first);
      await publish('/topic/join-inside', 'm1');
      await publish('/topic/join-inside', 'm2');
      await late.waitFor(1);
      expect(late.bodies()).to.deep.equal(['m2']);
    });

    it('stops at once when a sink closes its consumer from inside deliver(), even for work already queued', async function () {
      await started();
      const closing = new RecordingSink('closing');
      const other = new RecordingSink('other');
      let consumer: Consumer | undefined;
      closing.onDeliver = () => {
        void publish('/topic/close-inside', 'queued behind');
        void consumer?.close();
      };
      consumer = await subscribe('/topic/close-inside', closing);
      await subscribe('/topic/close-inside', other);
      await publish('/topic/close-inside', 'first');
      await other.waitFor(2);
      expect(closing.bodies()).to.deep.equal(['first']);
    });

    it('requeues in order when a queue consumer closes from inside deliver() with unacked messages', async function () {
      await started();
      for (const body of ['1', '2', '3']) await publish('/queue/reentrant-close', body);
      const first = new RecordingSink('first');
      let consumer: Consumer | undefined;
      first.onDeliver = () => {
        if (first.deliveries.length === 2) void consumer?.close();
      };
      consumer = await subscribe('/queue/reentrant-close', first, 'client-individual');
      await first.waitFor(2);
      const second = new RecordingSink('second');
      await subscribe('/queue/reentrant-close', second);
      await second.waitFor(3);
      expect(second.bodies()).to.deep.equal(['1', '2', '3']);
      expect(second.deliveries.map((d) => d.message.headers.redelivered)).to.deep.equal(['true', 'true', 'false']);
      expect(first.deliveries).to.have.length(2);
    });

    it('acks from inside deliver() with prefetch-count=1 through a deep backlog, in order, without growing the stack', async function () {
      await started({ maxQueuedMessagesPerQueue: 100_000 });
      const count = 50_000;
      for (let i = 0; i < count; i++) await publish('/queue/deep', String(i));
      const sink = new RecordingSink();
      let consumer: Consumer | undefined;
      sink.onDeliver = (d) => {
        consumer?.ack(d.ackId as string);
      };
      consumer = await subscribe('/queue/deep', sink, 'client-individual', { 'prefetch-count': '1' });
      await sink.waitFor(count);
      const bodies = sink.bodies();
      expect(bodies.every((b, i) => b === String(i)), 'in order').to.equal(true);
    });

    it('survives a sink that republishes every message it gets (no stack overflow, event loop keeps turning)', async function () {
      await started({ maxDeliveriesPerTurn: 1000 });
      const echo = new RecordingSink('echo');
      const target = 20_000;
      echo.onDeliver = () => {
        if (echo.deliveries.length < target) void publish('/topic/echo', String(echo.deliveries.length));
      };
      await subscribe('/topic/echo', echo);
      let timerFired = false;
      setTimeout(() => {
        timerFired = true;
      }, 0);
      await publish('/topic/echo', '0');
      await echo.waitFor(target);
      expect(timerFired, 'timers ran while the chain continued').to.equal(true);
      expect(echo.bodies().slice(0, 3)).to.deep.equal(['0', '1', '2']);
    });

    it('keeps the event loop turning while a sink NACKs every delivery, until it closes', async function () {
      await started({ maxDeliveriesPerTurn: 100 });
      // Safety valve: past this many deliveries the sink acks, so a broker that never yields ends
      // the loop (and fails below) instead of hanging the test run.
      const cap = 200_000;
      const nacker = new RecordingSink('nacker');
      let consumer: Consumer | undefined;
      nacker.onDeliver = (d) => {
        if (nacker.deliveries.length < cap) consumer?.nack(d.ackId as string);
        else consumer?.ack(d.ackId as string);
      };
      await publish('/queue/poison', 'poison');
      consumer = await subscribe('/queue/poison', nacker, 'client-individual');
      const deliveriesWhenTimerFired = await new Promise<number>((resolve) => setTimeout(() => resolve(nacker.deliveries.length), 1));
      await consumer.close();
      expect(deliveriesWhenTimerFired, 'the requeue loop yields to timers').to.be.below(cap);
      expect(deliveriesWhenTimerFired, 'and keeps redelivering').to.be.above(1);

      const after = nacker.deliveries.length;
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      expect(nacker.deliveries.length, 'nothing after close').to.equal(after);
      expect(nacker.deliveries.slice(1).every((d) => d.message.headers.redelivered === 'true')).to.equal(true);
      // The poison message is still there for the next consumer.
      const next = new RecordingSink('next');
      await subscribe('/queue/poison', next);
      await next.waitFor(1);
      expect(next.bodies()).to.deep.equal(['poison']);
    });

    it('delivers nothing more when the broker is stopped from inside deliver()', async function () {
      await started();
      const stopper = new RecordingSink('stopper');
      const other = new RecordingSink('other');
      stopper.onDeliver = () => void broker.stop();
      await subscribe('/topic/stop-inside', stopper);
      await subscribe('/topic/stop-inside', other);
      await publish('/topic/stop-inside', 'last');
      expect(broker.ready).to.equal(false);
      expect(stopper.bodies()).to.deep.equal(['last']);
      expect(other.deliveries).to.have.length(0);
    });
  });

  describe('lifecycle', function () {
    it('is not ready before start and refuses work with BROKER_UNAVAILABLE', async function () {
      broker = new MemoryBroker();
      expect(broker.ready).to.equal(false);
      await expectRelayError(publish('/topic/x', 'early'), 'BROKER_UNAVAILABLE');
      await expectRelayError(subscribe('/topic/x', new RecordingSink()), 'BROKER_UNAVAILABLE');
    });

    it('reports readiness changes to listeners until they unregister', async function () {
      broker = new MemoryBroker();
      const seen: boolean[] = [];
      const unregister = broker.onReadyChange((ready) => seen.push(ready));
      await broker.start();
      await broker.start(); // no change, no event
      await broker.stop();
      unregister();
      await broker.start();
      expect(seen).to.deep.equal([true, false]);
    });

    it('ends consumers and drops queued messages on stop; a restarted broker starts empty', async function () {
      await started();
      const sink = new RecordingSink();
      const consumer = await subscribe('/queue/lifecycle', sink, 'client-individual');
      await publish('/queue/lifecycle', 'held');
      await publish('/queue/pending', 'waiting');
      await broker.stop();
      expect(consumer.ack(sink.deliveries[0].ackId as string)).to.equal(false);
      expect(sink.cancellations, 'stop is not a cancellation').to.have.length(0);

      await broker.start();
      const fresh = new RecordingSink('fresh');
      await subscribe('/queue/pending', fresh);
      await publish('/queue/pending', 'new');
      await fresh.waitFor(1);
      expect(fresh.bodies()).to.deep.equal(['new']);
    });
  });
});
