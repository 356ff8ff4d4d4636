import { expect } from 'chai';
import { createTestHub, type TestHub } from './session-harness';

describe('session: ACK and NACK', () => {
  let t: TestHub;
  beforeEach(async () => { t = await createTestHub(); });
  afterEach(async () => t.stop());

  async function subscribed(ack: string, version = '1.2') {
    const consumer = await t.open({ acceptVersion: version });
    consumer.sendFrame('SUBSCRIBE', { id: 'q', destination: '/queue/work', ack, receipt: 'r' });
    await consumer.take('RECEIPT');
    return consumer;
  }

  async function publish(...bodies: string[]) {
    const producer = await t.open();
    for (const body of bodies) producer.sendFrame('SEND', { destination: '/queue/work', receipt: body }, body);
    for (let i = 0; i < bodies.length; i++) await producer.next('RECEIPT');
    producer.drop();
  }

  it('client-individual (1.2): ACK settles one message, NACK redelivers it', async () => {
    const c = await subscribed('client-individual');
    await publish('one', 'two');
    const one = await c.next('MESSAGE');
    const two = await c.next('MESSAGE');
    expect(one.headers.ack).to.be.a('string');
    expect(one.headers.ack).to.not.equal(two.headers.ack);

    c.sendFrame('NACK', { id: one.headers.ack, receipt: 'n' });
    // The embedded broker redelivers inside the NACK, so the MESSAGE may precede the RECEIPT.
    const pair = [await c.next(), await c.next()];
    expect(pair.map((f) => f.command).sort()).to.deep.equal(['MESSAGE', 'RECEIPT']);
    const again = pair.find((f) => f.command === 'MESSAGE')!;
    expect(again.body.toString()).to.equal('one');
    expect(again.headers['message-id']).to.equal(one.headers['message-id']);
    expect(again.headers.redelivered).to.equal('true');

    c.sendFrame('ACK', { id: two.headers.ack });
    c.sendFrame('ACK', { id: again.headers.ack, receipt: 'a' });
    await c.next('RECEIPT');
    // Settled ids are gone: acking one again is an error.
    c.sendFrame('ACK', { id: again.headers.ack });
    await c.expectError('UNKNOWN_ACK');
  });

  it('client mode: ACK is cumulative', async () => {
    const c = await subscribed('client');
    await publish('a', 'b', 'c');
    await c.next('MESSAGE');
    const b = await c.next('MESSAGE');
    await c.next('MESSAGE');
    c.sendFrame('ACK', { id: b.headers.ack, receipt: 'cum' });
    await c.next('RECEIPT');
    c.drop();
    await c.closedEvent;
    // 'a' and 'b' were settled by the one ACK; only 'c' goes back to the queue.
    const next = await subscribed('client-individual');
    expect((await next.next('MESSAGE')).body.toString()).to.equal('c');
    next.sendFrame('DISCONNECT', { receipt: 'end' });
    expect((await next.next()).command).to.equal('RECEIPT');
  });

  it('STOMP 1.1 acknowledges by message-id + subscription', async () => {
    const c = await subscribed('client-individual', '1.1');
    await publish('x');
    const message = await c.next('MESSAGE');
    expect(message.headers.ack).to.equal(undefined);
    c.sendFrame('ACK', { 'message-id': message.headers['message-id'], subscription: 'q', receipt: 'ok' });
    await c.next('RECEIPT');
    c.sendFrame('ACK', { 'message-id': message.headers['message-id'] });
    await c.expectError('MISSING_HEADER');
  });

  it('NACK with requeue:false gives the message up instead of redelivering it (any letter case, as RabbitMQ reads it)', async () => {
    for (const [mode, requeue] of [['client-individual', 'false'], ['client', 'FALSE']]) {
      const c = await subscribed(mode);
      await publish('poison');
      const poison = await c.next('MESSAGE');
      c.sendFrame('NACK', { id: poison.headers.ack, requeue, receipt: 'n' });
      // The embedded broker would redeliver inside the NACK, before its RECEIPT.
      expect((await c.next()).command, mode).to.equal('RECEIPT');
      await publish('next');
      const next = await c.next('MESSAGE');
      expect(next.body.toString(), mode).to.equal('next');
      c.sendFrame('ACK', { id: next.headers.ack });
      c.sendFrame('DISCONNECT', { receipt: 'bye' });
      await c.next('RECEIPT');
      await c.closedEvent;
    }
  });

  it('NACK with requeue:true, or without it, redelivers', async () => {
    const c = await subscribed('client-individual');
    await publish('again');
    const first = await c.next('MESSAGE');
    c.sendFrame('NACK', { id: first.headers.ack, requeue: 'True' });
    const second = await c.next('MESSAGE');
    expect(second.body.toString()).to.equal('again');
    expect(second.headers.redelivered).to.equal('true');
  });

  it('closes with INVALID_HEADER on a NACK whose requeue is neither true nor false', async () => {
    const c = await subscribed('client-individual');
    await publish('x');
    const m = await c.next('MESSAGE');
    c.sendFrame('NACK', { id: m.headers.ack, requeue: 'no', receipt: 'bad' });
    const error = await c.expectError('INVALID_HEADER');
    expect(error.headers.message).to.include('requeue');
    expect(error.headers['receipt-id']).to.equal('bad');
  });

  it('STOMP 1.1: accepts an ACK whose subscription header names another subscription when the message-id is unambiguous (as RabbitMQ does)', async () => {
    const c = await t.open({ acceptVersion: '1.1' });
    c.sendFrame('SUBSCRIBE', { id: 'other', destination: '/queue/elsewhere', ack: 'client-individual', receipt: 'r0' });
    await c.next('RECEIPT');
    c.sendFrame('SUBSCRIBE', { id: 'q', destination: '/queue/work', ack: 'client-individual', receipt: 'r1' });
    await c.next('RECEIPT');
    await publish('x', 'y');
    const x = await c.next('MESSAGE');
    const y = await c.next('MESSAGE');
    c.sendFrame('ACK', { 'message-id': x.headers['message-id'], subscription: 'other', receipt: 'ok' });
    expect((await c.next('RECEIPT')).headers['receipt-id']).to.equal('ok');
    c.sendFrame('ACK', { 'message-id': y.headers['message-id'], subscription: 'no-such-subscription', receipt: 'ok2' });
    expect((await c.next('RECEIPT')).headers['receipt-id']).to.equal('ok2');
    c.drop();
    await c.closedEvent;
    // Both were settled by those ACKs: nothing goes back to the queue.
    const next = await subscribed('client-individual');
    await publish('z');
    expect((await next.next('MESSAGE')).body.toString()).to.equal('z');
  });

  it('STOMP 1.1: a message-id two subscriptions hold is settled where the subscription header says, and is UNKNOWN_ACK when it names neither', async () => {
    // The embedded broker gives one topic message the same message-id in every subscription.
    const c = await t.open({ acceptVersion: '1.1' });
    for (const id of ['a', 'b']) {
      c.sendFrame('SUBSCRIBE', { id, destination: '/topic/both', ack: 'client-individual', receipt: id });
      await c.next('RECEIPT');
    }
    const producer = await t.open();
    producer.sendFrame('SEND', { destination: '/topic/both', receipt: 'sent' }, 'twice');
    await producer.next('RECEIPT');
    const [first, second] = [await c.next('MESSAGE'), await c.next('MESSAGE')];
    expect(first.headers['message-id']).to.equal(second.headers['message-id']);
    c.sendFrame('ACK', { 'message-id': first.headers['message-id'], subscription: 'b', receipt: 'b-acked' });
    expect((await c.next('RECEIPT')).headers['receipt-id']).to.equal('b-acked');
    // Now only 'a' holds it: unambiguous again, whatever the header names.
    c.sendFrame('ACK', { 'message-id': first.headers['message-id'], subscription: 'b', receipt: 'a-acked' });
    expect((await c.next('RECEIPT')).headers['receipt-id']).to.equal('a-acked');

    producer.sendFrame('SEND', { destination: '/topic/both', receipt: 'sent2' }, 'again');
    await producer.next('RECEIPT');
    const third = await c.next('MESSAGE');
    await c.next('MESSAGE');
    c.sendFrame('ACK', { 'message-id': third.headers['message-id'], subscription: 'neither' });
    await c.expectError('UNKNOWN_ACK');
  });

  it('STOMP 1.1: an ACK naming a message-id no subscription holds is still UNKNOWN_ACK', async () => {
    const c = await subscribed('client-individual', '1.1');
    await publish('x');
    await c.next('MESSAGE');
    c.sendFrame('ACK', { 'message-id': 'no-such-message', subscription: 'q' });
    await c.expectError('UNKNOWN_ACK');
  });

  it('STOMP 1.0 acknowledges by message-id alone', async () => {
    const c = await subscribed('client', '1.0');
    await publish('x');
    const message = await c.next('MESSAGE');
    c.sendFrame('ACK', { 'message-id': message.headers['message-id'], receipt: 'ok' });
    expect((await c.next('RECEIPT')).headers['receipt-id']).to.equal('ok');
  });

  it('returns unacked messages to the queue when the session goes away', async () => {
    const first = await subscribed('client-individual');
    await publish('precious');
    const m = await first.next('MESSAGE');
    expect(m.body.toString()).to.equal('precious');
    first.drop();
    await first.closedEvent;

    const second = await subscribed('client-individual');
    const again = await second.next('MESSAGE');
    expect(again.body.toString()).to.equal('precious');
  });

  it('refuses an ACK for an auto subscription as UNKNOWN_ACK', async () => {
    const c = await subscribed('auto');
    await publish('p');
    const m = await c.next('MESSAGE');
    c.sendFrame('ACK', { id: m.headers['message-id'] ?? 'x', receipt: 'r9' });
    const error = await c.expectError('UNKNOWN_ACK');
    expect(error.headers['receipt-id']).to.equal('r9');
  });

  it('does not let a session settle another session\'s delivery', async () => {
    const owner = await subscribed('client-individual');
    await publish('mine');
    const m = await owner.next('MESSAGE');
    const thief = await t.open();
    thief.sendFrame('ACK', { id: m.headers.ack });
    await thief.expectError('UNKNOWN_ACK');
    owner.sendFrame('ACK', { id: m.headers.ack, receipt: 'fine' });
    expect((await owner.next('RECEIPT')).headers['receipt-id']).to.equal('fine');
  });
});
