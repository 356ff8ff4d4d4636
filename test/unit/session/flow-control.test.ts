import { expect } from 'chai';
import type { Broker, PublishOptions, PublishRequest } from '../../../server/broker/broker';
import { MemoryBroker } from '../../../server/broker/memory/memory-broker';
import { createMessageTemplate } from '../../../server/codec/serializer';
import { MessageEncoder } from '../../../server/session/message-encoder';
import { createTestHub, FakeTransport, type TestHub } from './session-harness';

describe('session: flow control, heart-beats, encoding, shutdown', () => {
  let t: TestHub;
  afterEach(async () => t?.stop());

  describe('slow consumer', () => {
    it('closes a session whose transport backs up with SLOW_CONSUMER; its unacked queue messages go to others', async () => {
      t = await createTestHub({ limits: { maxBufferedBytes: 4096 } });
      const slow = await t.open();
      slow.sendFrame('SUBSCRIBE', { id: '1', destination: '/queue/jobs', ack: 'client-individual', receipt: 'r' });
      await slow.next('RECEIPT');
      const producer = await t.open();
      producer.sendFrame('SEND', { destination: '/queue/jobs', receipt: 'p1' }, 'job-1');
      await producer.next('RECEIPT');
      expect((await slow.next('MESSAGE')).body.toString()).to.equal('job-1');

      slow.bufferedAmount = 5000; // the socket stopped draining
      producer.sendFrame('SEND', { destination: '/queue/jobs', receipt: 'p2' }, 'job-2');
      await producer.next('RECEIPT');
      const error = await slow.expectError('SLOW_CONSUMER');
      expect(error.headers.message).to.contain('4096');
      expect((await t.metrics.slowConsumerDrops.get()).values[0].value).to.equal(1);

      // Nothing was acked, so both jobs are back on the queue for the next consumer.
      const healthy = await t.open();
      healthy.sendFrame('SUBSCRIBE', { id: '1', destination: '/queue/jobs', ack: 'client-individual' });
      const bodies = [(await healthy.next('MESSAGE')).body.toString(), (await healthy.next('MESSAGE')).body.toString()];
      expect(bodies.sort()).to.deep.equal(['job-1', 'job-2']);
    });

    it('keeps a session whose buffer stays under the limit', async () => {
      t = await createTestHub({ limits: { maxBufferedBytes: 4096 } });
      const c = await t.open();
      c.bufferedAmount = 4096;
      c.sendFrame('SUBSCRIBE', { id: '1', destination: '/topic/x', receipt: 'r' });
      await c.next('RECEIPT');
      expect(c.isClosed).to.equal(false);
    });
  });

  describe('heart-beats', () => {
    it('closes with HEARTBEAT_TIMEOUT when the client goes silent past interval × graceFactor', async () => {
      t = await createTestHub({ heartbeat: { sendMs: 0, receiveMs: 20, graceFactor: 2 } });
      const c = await t.open({ heartBeat: '20,0' });
      const started = Date.now();
      const error = await c.expectError('HEARTBEAT_TIMEOUT');
      expect(Date.now() - started).to.be.at.least(35);
      expect(error.headers.message).to.match(/\d+ ms/);
    });

    it('sends EOLs when idle and keeps a client that answers them', async () => {
      t = await createTestHub({ heartbeat: { sendMs: 15, receiveMs: 20, graceFactor: 2 } });
      const c = await t.open({ heartBeat: '10,15' });
      let answered = 0;
      // The client answers each server heart-beat with one of its own: event-driven, no sleeps.
      await c.waitFor(() => {
        while (answered < c.heartbeatsReceived) {
          answered++;
          c.receive('\n');
        }
        return c.heartbeatsReceived >= 8;
      }, 3000, 'eight heart-beats');
      // 8 × 15 ms is well past the 40 ms grace period: the answers kept the session alive.
      expect(c.isClosed).to.equal(false);
      expect(c.session.connected).to.equal(true);
    });

    it('closes a connection that never sends CONNECT after the same grace period', async () => {
      t = await createTestHub({ heartbeat: { sendMs: 0, receiveMs: 20, graceFactor: 2 } });
      const idle = await t.open({ connect: false });
      await idle.expectError('HEARTBEAT_TIMEOUT');
      expect(t.hub.size).to.equal(0);
    });

    it('closes a connection that sends only EOLs and never completes CONNECT', async () => {
      t = await createTestHub({ heartbeat: { sendMs: 0, receiveMs: 20, graceFactor: 2 } });
      const chatty = await t.open({ connect: false });
      // EOLs keep a connected session alive, but must not stand in for CONNECT.
      const eols = setInterval(() => { if (!chatty.isClosed) chatty.receive('\n'); }, 5);
      try {
        await chatty.expectError('HEARTBEAT_TIMEOUT');
      } finally {
        clearInterval(eols);
      }
      expect(t.hub.size).to.equal(0);
    });

    it('sends no heart-beats when the client asked for none', async () => {
      t = await createTestHub({ heartbeat: { sendMs: 5, receiveMs: 0 } });
      const quiet = await t.open({ heartBeat: '0,0' });
      const chatty = await t.open({ heartBeat: '0,5' });
      await chatty.waitFor(() => chatty.heartbeatsReceived >= 3, 2000, 'heart-beats');
      expect(quiet.heartbeatsReceived).to.equal(0);
    });
  });

  describe('encode once', () => {
    it('builds one MESSAGE template per message and version, whatever the fan-out', async () => {
      let templates = 0;
      const encoder = new MessageEncoder((...args) => {
        templates++;
        return createMessageTemplate(...args);
      });
      t = await createTestHub({}, { encoder });
      const receivers: FakeTransport[] = [];
      for (let i = 0; i < 6; i++) {
        const r = await t.open({ acceptVersion: i < 4 ? '1.2' : '1.1' });
        r.sendFrame('SUBSCRIBE', { id: `s${i}`, destination: '/topic/fan', receipt: 'r' });
        await r.next('RECEIPT');
        receivers.push(r);
      }
      const sender = await t.open();
      sender.sendFrame('SEND', { destination: '/topic/fan', 'content-type': 'text/plain' }, 'to all');
      for (let i = 0; i < receivers.length; i++) {
        const m = await receivers[i].next('MESSAGE');
        expect(m.body.toString()).to.equal('to all');
        expect(m.headers.subscription).to.equal(`s${i}`);
      }
      expect(templates).to.equal(2); // one for the 1.2 sessions, one for the 1.1 sessions
    });

    it('renders one MESSAGE buffer for receivers whose subscription id and destination match (stomp.js sub-0)', async () => {
      t = await createTestHub();
      const receivers: FakeTransport[] = [];
      for (let i = 0; i < 4; i++) {
        const r = await t.open();
        // Three clients call their subscription sub-0, as stomp.js does; the fourth another name.
        r.sendFrame('SUBSCRIBE', { id: i < 3 ? 'sub-0' : 'other', destination: '/topic/shared', receipt: 'r' });
        await r.next('RECEIPT');
        receivers.push(r);
      }
      const sender = await t.open();
      sender.sendFrame('SEND', { destination: '/topic/shared' }, 'once');
      for (const r of receivers) expect((await r.next('MESSAGE')).body.toString()).to.equal('once');
      const last = (r: FakeTransport) => r.sent[r.sent.length - 1].data;
      expect(last(receivers[1])).to.equal(last(receivers[0]), 'the same Buffer object');
      expect(last(receivers[2])).to.equal(last(receivers[0]));
      expect(last(receivers[3])).to.not.equal(last(receivers[0]));
      expect(receivers[3].frames[receivers[3].frames.length - 1].headers.subscription).to.equal('other');
    });
  });

  describe('receipts wait for the broker', () => {
    /** A broker whose publish confirms only when the test says so. */
    class HeldBroker extends MemoryBroker {
      readonly held: Array<() => void> = [];
      override publish(request: PublishRequest, options?: PublishOptions): Promise<void> {
        if (!options?.confirm) return super.publish(request, options);
        return new Promise((resolve, reject) => {
          this.held.push(() => { super.publish(request, options).then(resolve, reject); });
        });
      }
    }

    it('sends the SEND receipt only after the broker confirmed, and the DISCONNECT receipt after that', async () => {
      const broker = new HeldBroker();
      t = await createTestHub({}, { broker });
      const c = await t.open();
      c.sendFrame('SEND', { destination: '/topic/x', receipt: 'sent' }, 'm');
      c.sendFrame('DISCONNECT', { receipt: 'bye' });
      await c.waitFor(() => broker.held.length === 1, 2000, 'publish');
      // Let the event loop run: nothing may be answered while the broker holds the message.
      await new Promise((resolve) => setImmediate(resolve));
      expect(c.frames.slice(1)).to.deep.equal([]);
      broker.held[0]();
      expect((await c.next('RECEIPT')).headers['receipt-id']).to.equal('sent');
      expect((await c.next('RECEIPT')).headers['receipt-id']).to.equal('bye');
      await c.closedEvent;
    });

    it('still waits for work started after earlier work settled (the in-flight table is dropped when empty and made again)', async () => {
      const broker = new HeldBroker();
      t = await createTestHub({}, { broker });
      const c = await t.open();
      c.sendFrame('SEND', { destination: '/topic/x', receipt: 'first' }, 'm');
      await c.waitFor(() => broker.held.length === 1, 2000, 'first publish');
      broker.held[0]();
      expect((await c.next('RECEIPT')).headers['receipt-id']).to.equal('first');
      c.sendFrame('SEND', { destination: '/topic/x', receipt: 'second' }, 'm');
      c.sendFrame('DISCONNECT', { receipt: 'bye' });
      await c.waitFor(() => broker.held.length === 2, 2000, 'second publish');
      await new Promise((resolve) => setImmediate(resolve));
      expect(c.pending(), 'nothing is answered while the broker holds the second message').to.deep.equal([]);
      broker.held[1]();
      expect((await c.next('RECEIPT')).headers['receipt-id']).to.equal('second');
      expect((await c.next('RECEIPT')).headers['receipt-id']).to.equal('bye');
      await c.closedEvent;
    });

    it('answers a SEND inside a transaction at COMMIT, once the broker confirmed it, before the COMMIT itself', async () => {
      const broker = new HeldBroker();
      t = await createTestHub({}, { broker });
      const c = await t.open();
      c.sendFrame('BEGIN', { transaction: 'tx' });
      c.sendFrame('SEND', { destination: '/topic/x', transaction: 'tx', receipt: 'in-tx' }, 'm');
      // A later frame's receipt overtakes it: the SEND has not been applied yet.
      c.sendFrame('BEGIN', { transaction: 'other', receipt: 'later' });
      expect((await c.next('RECEIPT')).headers['receipt-id']).to.equal('later');
      c.sendFrame('COMMIT', { transaction: 'tx', receipt: 'committed' });
      await c.waitFor(() => broker.held.length === 1, 2000, 'the committed publish');
      await new Promise((resolve) => setImmediate(resolve));
      expect(c.pending(), 'nothing before the broker confirmed').to.deep.equal([]);
      broker.held[0]();
      expect((await c.next('RECEIPT')).headers['receipt-id']).to.equal('in-tx');
      expect((await c.next('RECEIPT')).headers['receipt-id']).to.equal('committed');
    });

    it('persistent:true also waits for the confirm', async () => {
      const broker = new HeldBroker();
      t = await createTestHub({}, { broker });
      const c = await t.open();
      c.sendFrame('SEND', { destination: '/topic/x', persistent: 'true' }, 'm');
      await c.waitFor(() => broker.held.length === 1, 2000, 'a confirmed publish');
    });
  });

  describe('inbound backlog', () => {
    it('closes a client that piles up frames behind a subscribe the broker does not answer', async () => {
      const stuck = new (class extends MemoryBroker {
        override subscribe(...args: Parameters<Broker['subscribe']>) {
          if (args[0].destination === '/topic/stuck') return new Promise<never>(() => undefined);
          return super.subscribe(...args);
        }
      })();
      t = await createTestHub({ limits: { maxBufferedBytes: 2048 } }, { broker: stuck });
      const c = await t.open();
      c.sendFrame('SUBSCRIBE', { id: '1', destination: '/topic/stuck' });
      for (let i = 0; i < 10; i++) c.sendFrame('SEND', { destination: '/topic/y' }, Buffer.alloc(300, 97));
      await c.expectError('BROKER_UNAVAILABLE');
    });

    it('counts header bytes of waiting frames too, not only bodies', async () => {
      const stuck = new (class extends MemoryBroker {
        override subscribe(...args: Parameters<Broker['subscribe']>) {
          if (args[0].destination === '/topic/stuck') return new Promise<never>(() => undefined);
          return super.subscribe(...args);
        }
      })();
      t = await createTestHub({ limits: { maxBufferedBytes: 4096 } }, { broker: stuck });
      const c = await t.open();
      c.sendFrame('SUBSCRIBE', { id: '1', destination: '/topic/stuck' });
      // Empty bodies, 1 KiB of headers each: 10 of them are well over the 4 KiB bound.
      for (let i = 0; i < 10; i++) c.sendFrame('SEND', { destination: '/topic/y', padding: 'p'.repeat(1024) });
      await c.expectError('BROKER_UNAVAILABLE');
    });
  });

  describe('drain', () => {
    it('sends SHUTTING_DOWN to every session in batches, waits for the closes, refuses newcomers', async () => {
      t = await createTestHub();
      const clients: FakeTransport[] = [];
      for (let i = 0; i < 5; i++) clients.push(await t.open({ connect: i !== 4 }));
      const shutDown = (c: FakeTransport) => c.frames.some((f) => f.command === 'ERROR' && f.headers.code === 'SHUTTING_DOWN');

      const drained = t.hub.drain({ batchSize: 2, pauseMs: 30, deadlineMs: 2000 });
      // The first batch goes at once, the rest after pauses.
      expect(clients.map(shutDown)).to.deep.equal([true, true, false, false, false]);
      await clients[2].waitFor(() => shutDown(clients[2]), 2000, 'second batch');
      expect(shutDown(clients[4])).to.equal(false);

      const late = new FakeTransport();
      t.hub.accept(late);
      await late.expectError('SHUTTING_DOWN');

      await drained;
      expect(clients.every(shutDown)).to.equal(true);
      expect(clients.every((c) => c.isClosed)).to.equal(true);
      expect(t.hub.size).to.equal(0);
    });

    it('gives up waiting at the deadline', async () => {
      t = await createTestHub();
      const stubborn = new (class extends FakeTransport {
        override close(): void { this.closeCalls++; } // never reports close
      })();
      t.hub.accept(stubborn);
      const started = Date.now();
      await t.hub.drain({ deadlineMs: 50 });
      expect(Date.now() - started).to.be.lessThan(1000);
      expect(stubborn.closeCalls).to.equal(1);
      expect((await stubborn.next('ERROR')).headers.code).to.equal('SHUTTING_DOWN');
    });
  });
});
