import { expect } from 'chai';
import type { DeliverySink, SubscribeRequest } from '../../../server/broker/broker';
import { MemoryBroker } from '../../../server/broker/memory/memory-broker';
import { Errors, relayError } from '../../../server/errors';
import { createTestHub, FakeTransport, type TestHub } from './session-harness';

describe('session: SEND, SUBSCRIBE, MESSAGE', () => {
  let t: TestHub;
  beforeEach(async () => { t = await createTestHub(); });
  afterEach(async () => t.stop());

  it('relays a SEND on a topic to another session with the right MESSAGE headers', async () => {
    const alice = await t.open({ login: 'alice' });
    const bob = await t.open({ login: 'bob' });
    bob.sendFrame('SUBSCRIBE', { id: 'sub-7', destination: '/topic/chat', receipt: 'subscribed' });
    expect((await bob.next('RECEIPT')).headers['receipt-id']).to.equal('subscribed');

    alice.sendFrame('SEND', { destination: '/topic/chat', 'content-type': 'text/plain', 'x-app': 'v1', receipt: 'sent' }, 'hello bob');
    expect((await alice.next('RECEIPT')).headers['receipt-id']).to.equal('sent');

    const message = await bob.next('MESSAGE');
    expect(message.body.toString()).to.equal('hello bob');
    expect(message.headers).to.include({
      destination: '/topic/chat', subscription: 'sub-7', 'content-type': 'text/plain', 'x-app': 'v1', 'content-length': '9',
    });
    expect(message.headers['message-id']).to.be.a('string').and.not.equal('');
    // Session-owned SEND headers never reach receivers, and auto subscriptions get no ack header.
    expect(message.headers.receipt).to.equal(undefined);
    expect(message.headers.ack).to.equal(undefined);
  });

  it('does not let a publisher forge per-receiver headers', async () => {
    const a = await t.open();
    const b = await t.open();
    b.sendFrame('SUBSCRIBE', { id: 'real', destination: '/topic/x', receipt: 'r' });
    await b.next('RECEIPT');
    a.sendFrame('SEND', { destination: '/topic/x', subscription: 'forged', ack: 'forged', 'message-id': 'forged' }, 'm');
    const message = await b.next('MESSAGE');
    expect(message.headers.subscription).to.equal('real');
    expect(message.headers['message-id']).to.not.equal('forged');
    expect(message.headers.ack).to.equal(undefined);
  });

  it('stops delivering after UNSUBSCRIBE (with a receipt once the consumer is closed)', async () => {
    const a = await t.open();
    const b = await t.open();
    b.sendFrame('SUBSCRIBE', { id: '1', destination: '/topic/t' });
    b.sendFrame('SUBSCRIBE', { id: '2', destination: '/topic/t2', receipt: 'both' });
    await b.next('RECEIPT');
    b.sendFrame('UNSUBSCRIBE', { id: '1', receipt: 'gone' });
    expect((await b.next('RECEIPT')).headers['receipt-id']).to.equal('gone');
    expect(b.session.subscriptionCount).to.equal(1);
    a.sendFrame('SEND', { destination: '/topic/t' }, 'lost');
    a.sendFrame('SEND', { destination: '/topic/t2' }, 'kept');
    const message = await b.next('MESSAGE');
    expect(message.body.toString()).to.equal('kept');
  });

  it('keeps subscriptions apart by id as a session goes from a few to many and back (the table changes form past eight)', async () => {
    const a = await t.open();
    const b = await t.open();
    const ids = Array.from({ length: 12 }, (_, i) => `s${i}`);
    for (const id of ids) b.sendFrame('SUBSCRIBE', { id, destination: `/topic/${id}`, ack: id === 's11' ? 'client' : 'auto' });
    b.sendFrame('SUBSCRIBE', { id: 's3', destination: '/topic/dup' });
    expect((await b.expectError('DUPLICATE_SUBSCRIPTION')).headers.message).to.include('s3');

    const c = await t.open();
    for (const id of ids.slice(0, 3)) c.sendFrame('SUBSCRIBE', { id, destination: `/topic/${id}` });
    c.sendFrame('UNSUBSCRIBE', { id: 's1', receipt: 'one gone' });
    await c.next('RECEIPT');
    expect(c.session.subscriptionCount).to.equal(2);
    for (const id of ids.slice(3)) c.sendFrame('SUBSCRIBE', { id, destination: `/topic/${id}`, ack: id === 's11' ? 'client' : 'auto' });
    c.sendFrame('UNSUBSCRIBE', { id: 's7' });
    c.sendFrame('UNSUBSCRIBE', { id: 's0', receipt: 'two more gone' });
    await c.next('RECEIPT');
    expect(c.session.subscriptionCount).to.equal(9);
    for (const id of ids) a.sendFrame('SEND', { destination: `/topic/${id}` }, id);
    const got: string[] = [];
    for (let i = 0; i < 9; i++) {
      const message = await c.next('MESSAGE');
      expect(message.headers.subscription).to.equal(message.body.toString());
      got.push(message.headers.subscription);
    }
    expect(got).to.deep.equal(ids.filter((id) => !['s0', 's1', 's7'].includes(id)));
    // The client-ack subscription past the eighth still settles by its ack id.
    const last = c.frames[c.frames.length - 1];
    c.sendFrame('ACK', { id: last.headers.ack, receipt: 'acked' });
    expect((await c.next('RECEIPT')).headers['receipt-id']).to.equal('acked');
    c.sendFrame('UNSUBSCRIBE', { id: 'nope' });
    await c.expectError('UNKNOWN_SUBSCRIPTION');
  });

  it('keeps SUBSCRIBE before a SEND of the same burst (subscribe completes first)', async () => {
    const c = await t.open();
    c.receive(Buffer.concat([
      frameBytes('SUBSCRIBE\nid:1\ndestination:/topic/self\n\n'),
      frameBytes('SEND\ndestination:/topic/self\n\necho'),
    ]));
    expect((await c.next('MESSAGE')).body.toString()).to.equal('echo');
  });

  it('sends a body that is not UTF-8 as a binary frame on WebSocket', async () => {
    const a = await t.open();
    const b = await t.open();
    b.sendFrame('SUBSCRIBE', { id: '1', destination: '/topic/bin', receipt: 'r' });
    await b.next('RECEIPT');
    const body = Buffer.from([0xff, 0x00, 0xfe, 0x01]);
    a.sendFrame('SEND', { destination: '/topic/bin', 'content-type': 'application/octet-stream' }, body);
    const message = await b.next('MESSAGE');
    expect(message.body.equals(body)).to.equal(true);
    const chunk = b.sent[b.sent.length - 1];
    expect(chunk.binary).to.equal(true);
    // while text bodies go as text frames
    a.sendFrame('SEND', { destination: '/topic/bin' }, 'plain');
    await b.next('MESSAGE');
    expect(b.sent[b.sent.length - 1].binary).to.equal(false);
  });

  it('drops, logs and counts a non-UTF-8 body for a text-only (SockJS) session, which keeps working', async () => {
    const a = await t.open();
    const sockjs = await t.open({ kind: 'sockjs' });
    sockjs.sendFrame('SUBSCRIBE', { id: '1', destination: '/topic/mixed', receipt: 'r' });
    await sockjs.next('RECEIPT');
    a.sendFrame('SEND', { destination: '/topic/mixed' }, Buffer.from([0xc3, 0x28]));
    a.sendFrame('SEND', { destination: '/topic/mixed' }, 'text after');
    const message = await sockjs.next('MESSAGE');
    expect(message.body.toString()).to.equal('text after');
    expect(sockjs.sent.every(FakeTransport.isText)).to.equal(true);
    const metric = await t.metrics.undeliverable.get();
    expect(metric.values.find((v) => v.labels.reason === 'NOT_UTF8_ON_TEXT_TRANSPORT')?.value).to.equal(1);
  });

  it('uses the 1.0 SUBSCRIBE destination as id when id is absent', async () => {
    const a = await t.open();
    const old = await t.open({ acceptVersion: '1.0' });
    old.sendFrame('SUBSCRIBE', { destination: '/topic/old', receipt: 'r' });
    await old.next('RECEIPT');
    a.sendFrame('SEND', { destination: '/topic/old' }, 'hi');
    expect((await old.next('MESSAGE')).headers.subscription).to.equal('/topic/old');
    old.sendFrame('UNSUBSCRIBE', { destination: '/topic/old', receipt: 'u' });
    expect((await old.next('RECEIPT')).headers['receipt-id']).to.equal('u');
  });

  it('answers DISCONNECT with its RECEIPT and closes', async () => {
    const c = await t.open();
    c.sendFrame('DISCONNECT', { receipt: 'bye' });
    expect((await c.next('RECEIPT')).headers['receipt-id']).to.equal('bye');
    await c.closedEvent;
    expect(c.pending()).to.deep.equal([]);
  });

  it('ends the session with the broker\'s reason when the broker cancels a live subscription, not one already unsubscribed', async () => {
    await t.stop();
    const sinks = new Map<string, DeliverySink>();
    const recording = new (class extends MemoryBroker {
      override subscribe(request: SubscribeRequest, sink: DeliverySink) {
        sinks.set(request.destination, sink);
        return super.subscribe(request, sink);
      }
    })();
    t = await createTestHub({}, { broker: recording });
    const c = await t.open();
    c.sendFrame('SUBSCRIBE', { id: 'gone', destination: '/topic/a' });
    c.sendFrame('SUBSCRIBE', { id: 'live', destination: '/topic/b' });
    c.sendFrame('UNSUBSCRIBE', { id: 'gone', receipt: 'u' });
    await c.next('RECEIPT');
    sinks.get('/topic/a')!.cancelled(relayError(Errors.BROKER_ERROR, 'queue deleted'));
    c.sendFrame('SEND', { destination: '/topic/b' }, 'still here');
    expect((await c.next('MESSAGE')).body.toString()).to.equal('still here');
    sinks.get('/topic/b')!.cancelled(relayError(Errors.BROKER_ERROR, 'queue deleted'));
    const error = await c.expectError('BROKER_ERROR');
    expect(error.headers.message).to.include('queue deleted');
  });

  it('keeps gauges and counters in step', async () => {
    const a = await t.open();
    a.sendFrame('SUBSCRIBE', { id: '1', destination: '/topic/g', receipt: 'r' });
    await a.next('RECEIPT');
    expect((await t.metrics.subscriptions.get()).values[0].value).to.equal(1);
    expect((await t.metrics.sessions.get()).values.find((v) => v.labels.transport === 'ws')?.value).to.equal(1);
    a.drop();
    await a.closedEvent;
    expect((await t.metrics.subscriptions.get()).values[0].value).to.equal(0);
    expect((await t.metrics.sessions.get()).values.find((v) => v.labels.transport === 'ws')?.value).to.equal(0);
    const framesIn = await t.metrics.framesIn.get();
    expect(framesIn.values.find((v) => v.labels.command === 'SUBSCRIBE')?.value).to.equal(1);
  });
});

function frameBytes(text: string): Buffer {
  return Buffer.concat([Buffer.from(text), Buffer.from([0])]);
}
