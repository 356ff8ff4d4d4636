import { expect } from 'chai';
import { createTestHub, type FakeTransport, type TestHub } from './session-harness';

describe('session: transactions (BEGIN / COMMIT / ABORT)', () => {
  let t: TestHub;
  let listener: FakeTransport;
  beforeEach(async () => {
    t = await createTestHub({ limits: { maxTransactionFrames: 3, maxTransactionsPerSession: 2 } });
    listener = await t.open();
    listener.sendFrame('SUBSCRIBE', { id: '1', destination: '/topic/tx', receipt: 'r' });
    await listener.next('RECEIPT');
  });
  afterEach(async () => t.stop());

  it('holds SENDs until COMMIT, then delivers them in order', async () => {
    const c = await t.open();
    c.sendFrame('BEGIN', { transaction: 't1', receipt: 'b' });
    await c.next('RECEIPT');
    c.sendFrame('SEND', { destination: '/topic/tx', transaction: 't1' }, 'first');
    c.sendFrame('SEND', { destination: '/topic/tx', transaction: 't1', receipt: 's2' }, 'second');
    c.sendFrame('SEND', { destination: '/topic/tx', receipt: 'o' }, 'outside');
    // The transactional SEND's RECEIPT waits for COMMIT (as on RabbitMQ); the one outside does not.
    expect((await c.next('RECEIPT')).headers['receipt-id']).to.equal('o');
    expect((await listener.next('MESSAGE')).body.toString()).to.equal('outside');

    c.sendFrame('COMMIT', { transaction: 't1', receipt: 'c' });
    expect((await c.next('RECEIPT')).headers['receipt-id']).to.equal('s2');
    expect((await c.next('RECEIPT')).headers['receipt-id']).to.equal('c');
    expect((await listener.next('MESSAGE')).body.toString()).to.equal('first');
    expect((await listener.next('MESSAGE')).body.toString()).to.equal('second');
    expect(listener.pending()).to.deep.equal([]);
  });

  it('drops everything on ABORT', async () => {
    const c = await t.open();
    c.sendFrame('BEGIN', { transaction: 't' });
    c.sendFrame('SEND', { destination: '/topic/tx', transaction: 't', receipt: 'dropped' }, 'never');
    c.sendFrame('ABORT', { transaction: 't', receipt: 'a' });
    // The aborted SEND never took effect, so it gets no RECEIPT (RabbitMQ sends none either).
    expect((await c.next('RECEIPT')).headers['receipt-id']).to.equal('a');
    c.sendFrame('SEND', { destination: '/topic/tx', receipt: 'after' }, 'after');
    expect((await c.next('RECEIPT')).headers['receipt-id']).to.equal('after');
    expect((await listener.next('MESSAGE')).body.toString()).to.equal('after');
  });

  it('drops an open transaction when the client disconnects', async () => {
    const c = await t.open();
    c.sendFrame('BEGIN', { transaction: 't' });
    c.sendFrame('SEND', { destination: '/topic/tx', transaction: 't' }, 'never');
    c.sendFrame('DISCONNECT', { receipt: 'bye' });
    await c.next('RECEIPT');
    await c.closedEvent;
    const other = await t.open();
    other.sendFrame('SEND', { destination: '/topic/tx' }, 'only');
    expect((await listener.next('MESSAGE')).body.toString()).to.equal('only');
  });

  it('defers an ACK inside a transaction to COMMIT', async () => {
    const consumer = await t.open();
    consumer.sendFrame('SUBSCRIBE', { id: 'q', destination: '/queue/txq', ack: 'client-individual', receipt: 'r' });
    await consumer.next('RECEIPT');
    const producer = await t.open();
    producer.sendFrame('SEND', { destination: '/queue/txq', receipt: 'p' }, 'job');
    await producer.next('RECEIPT');
    const job = await consumer.next('MESSAGE');

    consumer.sendFrame('BEGIN', { transaction: 'a' });
    consumer.sendFrame('ACK', { id: job.headers.ack, transaction: 'a' });
    consumer.sendFrame('ABORT', { transaction: 'a', receipt: 'aborted' });
    await consumer.next('RECEIPT');
    // Aborted: still unacked, so it can be acked for real now.
    consumer.sendFrame('BEGIN', { transaction: 'b' });
    consumer.sendFrame('ACK', { id: job.headers.ack, transaction: 'b', receipt: 'acked' });
    consumer.sendFrame('BEGIN', { transaction: 'c', receipt: 'later' });
    // The ACK takes effect at COMMIT, and so does its RECEIPT.
    expect((await consumer.next('RECEIPT')).headers['receipt-id']).to.equal('later');
    consumer.sendFrame('COMMIT', { transaction: 'b', receipt: 'committed' });
    expect((await consumer.next('RECEIPT')).headers['receipt-id']).to.equal('acked');
    expect((await consumer.next('RECEIPT')).headers['receipt-id']).to.equal('committed');
    consumer.drop();
    await consumer.closedEvent;
    // Acked at COMMIT: nothing goes back to the queue.
    const next = await t.open();
    next.sendFrame('SUBSCRIBE', { id: 'q', destination: '/queue/txq', ack: 'client-individual', receipt: 'r2' });
    await next.next('RECEIPT');
    producer.sendFrame('SEND', { destination: '/queue/txq', receipt: 'p2' }, 'job2');
    expect((await next.next('MESSAGE')).body.toString()).to.equal('job2');
  });

  const errorCases: Array<[string, (c: FakeTransport) => void, string]> = [
    ['COMMIT of an unknown transaction', (c) => c.sendFrame('COMMIT', { transaction: 'nope' }), 'UNKNOWN_TRANSACTION'],
    ['ABORT of an unknown transaction', (c) => c.sendFrame('ABORT', { transaction: 'nope' }), 'UNKNOWN_TRANSACTION'],
    ['SEND in an unknown transaction', (c) => c.sendFrame('SEND', { destination: '/topic/tx', transaction: 'nope' }), 'UNKNOWN_TRANSACTION'],
    ['BEGIN of an open transaction', (c) => { c.sendFrame('BEGIN', { transaction: 'x' }); c.sendFrame('BEGIN', { transaction: 'x' }); }, 'DUPLICATE_TRANSACTION'],
    ['BEGIN without transaction header', (c) => c.sendFrame('BEGIN'), 'MISSING_HEADER'],
    ['more open transactions than allowed', (c) => { for (const id of ['1', '2', '3']) c.sendFrame('BEGIN', { transaction: id }); }, 'TOO_MANY_TRANSACTIONS'],
    ['more frames in a transaction than allowed', (c) => {
      c.sendFrame('BEGIN', { transaction: 'big' });
      for (let i = 0; i < 4; i++) c.sendFrame('SEND', { destination: '/topic/tx', transaction: 'big' }, `${i}`);
    }, 'TRANSACTION_TOO_LARGE'],
  ];
  for (const [name, act, code] of errorCases) {
    it(`closes with ${code} on ${name}; nothing of it is delivered`, async () => {
      const c = await t.open();
      act(c);
      await c.expectError(code);
      const other = await t.open();
      other.sendFrame('SEND', { destination: '/topic/tx' }, 'still fine');
      expect((await listener.next('MESSAGE')).body.toString()).to.equal('still fine');
    });
  }
});
