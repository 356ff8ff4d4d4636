import { expect } from 'chai';
import pino from 'pino';
import type { Broker, PublishOptions, PublishRequest } from '../../../server/broker/broker';
import { MemoryBroker } from '../../../server/broker/memory/memory-broker';
import { Errors, relayError } from '../../../server/errors';
import { PrefixRouter } from '../../../server/session/destination-router';
import { createTestHub, type FakeTransport, type TestHub } from './session-harness';

/** Every error ends the offending session with ERROR (message + code) and a close; others carry on. */
describe('session: errors', () => {
  let t: TestHub;
  let witness: FakeTransport;

  async function setup(...args: Parameters<typeof createTestHub>) {
    t = await createTestHub(...args);
    witness = await t.open();
    witness.sendFrame('SUBSCRIBE', { id: 'w', destination: '/topic/witness', receipt: 'r' });
    await witness.next('RECEIPT');
  }

  /** The witness session still sends and receives. */
  async function othersUnaffected() {
    const other = await t.open();
    other.sendFrame('SEND', { destination: '/topic/witness' }, 'alive');
    expect((await witness.next('MESSAGE')).body.toString()).to.equal('alive');
  }

  afterEach(async () => t.stop());

  const cases: Array<{ name: string; connect?: boolean; version?: string; act: (c: FakeTransport) => void; code: string }> = [
    { name: 'a frame before CONNECT', connect: false, act: (c) => c.sendFrame('SEND', { destination: '/topic/a' }), code: 'NOT_CONNECTED' },
    { name: 'a second CONNECT', act: (c) => c.sendFrame('CONNECT', { 'accept-version': '1.2' }), code: 'ALREADY_CONNECTED' },
    { name: 'an unknown command', act: (c) => c.sendFrame('FROB', {}), code: 'UNKNOWN_COMMAND' },
    { name: 'a server command from the client', act: (c) => c.sendFrame('MESSAGE', { destination: '/topic/a' }), code: 'UNKNOWN_COMMAND' },
    { name: 'a command named like an Object property', act: (c) => c.sendFrame('constructor', {}), code: 'UNKNOWN_COMMAND' },
    { name: 'SEND without destination', act: (c) => c.sendFrame('SEND', {}, 'x'), code: 'MISSING_HEADER' },
    { name: 'SEND to a destination outside the relay prefixes', act: (c) => c.sendFrame('SEND', { destination: '/secret/x' }), code: 'DESTINATION_NOT_ALLOWED' },
    { name: 'SUBSCRIBE without destination', act: (c) => c.sendFrame('SUBSCRIBE', { id: '1' }), code: 'MISSING_HEADER' },
    { name: 'SUBSCRIBE without id (1.1+)', act: (c) => c.sendFrame('SUBSCRIBE', { destination: '/topic/a' }), code: 'MISSING_HEADER' },
    { name: 'SUBSCRIBE with a bad ack mode', act: (c) => c.sendFrame('SUBSCRIBE', { id: '1', destination: '/topic/a', ack: 'sometimes' }), code: 'INVALID_HEADER' },
    { name: 'SUBSCRIBE with a duplicate id', act: (c) => { c.sendFrame('SUBSCRIBE', { id: '1', destination: '/topic/a' }); c.sendFrame('SUBSCRIBE', { id: '1', destination: '/topic/b' }); }, code: 'DUPLICATE_SUBSCRIPTION' },
    { name: 'SUBSCRIBE to a bare prefix', act: (c) => c.sendFrame('SUBSCRIBE', { id: '1', destination: '/topic/' }), code: 'DESTINATION_NOT_ALLOWED' },
    { name: 'too many subscriptions', act: (c) => { for (let i = 0; i < 4; i++) c.sendFrame('SUBSCRIBE', { id: `${i}`, destination: `/topic/${i}` }); }, code: 'TOO_MANY_SUBSCRIPTIONS' },
    { name: 'UNSUBSCRIBE of an unknown id', act: (c) => c.sendFrame('UNSUBSCRIBE', { id: 'nope' }), code: 'UNKNOWN_SUBSCRIPTION' },
    { name: 'UNSUBSCRIBE without id', act: (c) => c.sendFrame('UNSUBSCRIBE', {}), code: 'MISSING_HEADER' },
    { name: 'ACK of an unknown id', act: (c) => c.sendFrame('ACK', { id: '42' }), code: 'UNKNOWN_ACK' },
    { name: 'NACK without id', act: (c) => c.sendFrame('NACK', {}), code: 'MISSING_HEADER' },
    { name: 'a malformed frame (parser error)', act: (c) => c.receive('SEND\ndestination:/topic/a\ncontent-length:x\n\n\0'), code: 'INVALID_CONTENT_LENGTH' },
    { name: 'a frame over the size limit', act: (c) => c.sendFrame('SEND', { destination: '/topic/a' }, Buffer.alloc(2048, 97)), code: 'FRAME_TOO_LARGE' },
  ];

  for (const { name, connect, act, code } of cases) {
    it(`answers ${name} with ERROR ${code}, closes, and leaves other sessions working`, async () => {
      await setup({ limits: { maxSubscriptionsPerSession: 3, maxFrameBytes: 1024, maxHeaderLineBytes: 512 } });
      const c = await t.open({ connect });
      act(c);
      const error = await c.expectError(code);
      expect(error.headers.message).to.be.a('string').with.length.greaterThan(5);
      expect(c.isClosed).to.equal(true);
      await othersUnaffected();
      const metric = await t.metrics.protocolErrors.get();
      expect(metric.values.find((v) => v.labels.code === code)?.value).to.equal(1);
    });
  }

  it('puts receipt-id on the ERROR when the offending frame asked for a receipt', async () => {
    await setup();
    const c = await t.open();
    c.sendFrame('SEND', { destination: '/nowhere', receipt: 'm-17' });
    expect((await c.expectError('DESTINATION_NOT_ALLOWED')).headers['receipt-id']).to.equal('m-17');
  });

  it('ignores frames that follow the offending one in the same chunk', async () => {
    await setup();
    const c = await t.open();
    c.receive(Buffer.from('SEND\n\n\0SEND\ndestination:/topic/witness\n\nsneaky\0'));
    await c.expectError('MISSING_HEADER');
    await othersUnaffected();
    expect(witness.pending()).to.deep.equal([]);
  });

  describe('broker failures', () => {
    class FailingBroker extends MemoryBroker {
      failPublish = false;
      failSubscribe = false;
      override async publish(request: PublishRequest, options?: PublishOptions): Promise<void> {
        if (this.failPublish && request.destination === '/topic/doomed') throw relayError(Errors.BROKER_UNAVAILABLE, 'connection lost');
        return super.publish(request, options);
      }
      override async subscribe(...args: Parameters<Broker['subscribe']>) {
        if (this.failSubscribe && args[0].destination === '/topic/doomed') throw relayError(Errors.BROKER_ERROR, 'access refused');
        return super.subscribe(...args);
      }
    }

    it('turns a failed publish into ERROR with the broker code, never a RECEIPT', async () => {
      const broker = new FailingBroker();
      broker.failPublish = true;
      await setup({}, { broker });
      const c = await t.open();
      c.sendFrame('SEND', { destination: '/topic/doomed', receipt: 'r1' }, 'x');
      const error = await c.expectError('BROKER_UNAVAILABLE');
      expect(error.headers['receipt-id']).to.equal('r1');
      expect(c.frames.some((f) => f.command === 'RECEIPT')).to.equal(false);
      await othersUnaffected();
    });

    it('reports a publish failure even when no receipt was asked for (no silent loss)', async () => {
      const broker = new FailingBroker();
      broker.failPublish = true;
      await setup({}, { broker });
      const c = await t.open();
      c.sendFrame('SEND', { destination: '/topic/doomed' }, 'x');
      await c.expectError('BROKER_UNAVAILABLE');
    });

    it('turns a failed subscribe into ERROR and keeps the gauge right', async () => {
      const broker = new FailingBroker();
      broker.failSubscribe = true;
      await setup({}, { broker });
      const c = await t.open();
      c.sendFrame('SUBSCRIBE', { id: '1', destination: '/topic/doomed', receipt: 'r' });
      await c.expectError('BROKER_ERROR');
      expect((await t.metrics.subscriptions.get()).values[0].value).to.equal(1); // the witness only
    });
  });

  describe('a transport that throws', () => {
    // faye-websocket (SockJS's raw WebSocket) throws from close() on codes it does not allow; the
    // session must still end, free what it holds, and drop the connection, whatever path ended it.
    const endings: Array<[string, (c: FakeTransport) => void, string]> = [
      ['a parser error (synchronous)', (c) => c.receive('GET / HTTP/1.1\r\n\r\n'), 'INVALID_COMMAND'],
      ['a refused SUBSCRIBE (after an await)', (c) => c.sendFrame('SUBSCRIBE', { id: 'x', destination: '/nope' }), 'DESTINATION_NOT_ALLOWED'],
    ];
    for (const [name, act, code] of endings) {
      it(`from close(): ${name} still ends the session and destroys the connection`, async () => {
        await setup();
        const c = await t.open();
        c.sendFrame('SUBSCRIBE', { id: 'held', destination: '/topic/held', receipt: 'r' });
        await c.next('RECEIPT');
        c.failing.close = true;
        act(c);
        await c.expectError(code);
        expect(c.closeCalls).to.equal(1);
        expect(c.destroyCalls).to.equal(1);
        expect((await t.metrics.subscriptions.get()).values[0].value, 'the witness only').to.equal(1);
        await othersUnaffected();
      });
    }

    it('from send(): ends the session and destroys the connection', async () => {
      await setup();
      const c = await t.open();
      c.sendFrame('SUBSCRIBE', { id: 'held', destination: '/topic/witness', receipt: 'r' });
      await c.next('RECEIPT');
      c.failing.send = true;
      const other = await t.open();
      other.sendFrame('SEND', { destination: '/topic/witness' }, 'to both');
      await c.closedEvent;
      expect(c.destroyCalls).to.equal(1);
      expect((await witness.next('MESSAGE')).body.toString()).to.equal('to both');
      expect((await t.metrics.subscriptions.get()).values[0].value, 'the witness only').to.equal(1);
    });
  });

  it('reports an unexpected exception generically, logs it, and stays up', async () => {
    class BuggyRouter extends PrefixRouter {
      override routeSend(...args: Parameters<PrefixRouter['routeSend']>) {
        if (args[1] === '/topic/bug') throw new TypeError('cannot read properties of undefined');
        return super.routeSend(...args);
      }
    }
    const logged: string[] = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => { logged.push(line); } });
    await setup({}, { router: new BuggyRouter(['/topic/']), logger });
    const c = await t.open();
    c.sendFrame('SEND', { destination: '/topic/bug' });
    const error = await c.expectError('INTERNAL_ERROR');
    expect(error.headers.message).to.not.contain('cannot read');
    expect(logged).to.have.length(1);
    expect(logged[0]).to.contain('cannot read properties of undefined');
    await othersUnaffected();
  });
});
