/**
 * Application handler errors keep the session (Spring's `@MessageExceptionHandler` +
 * `@SendToUser("/queue/errors")`): a throwing handler, a body that is not JSON for `msg.json()`, or
 * an /app destination without a handler send the sender a MESSAGE on `/user/queue/errors`, the
 * SEND's RECEIPT still comes, and the session stays open.
 */
import { expect } from 'chai';
import pino from 'pino';
import { AppError } from '../../../server/application/message-handlers';
import { RawStomp, startEmbeddedRelay, trackClients, unique, wsClient, type TestClient, type TestRelay, type TestSubscription } from '../../harness/stomp-test-kit';

interface ErrorReport { code: string; message: string; destination: string }

describe('application handler errors keep the session', function () {
  this.timeout(20_000);
  let server: TestRelay;
  const logged: string[] = [];
  const track = trackClients();

  before(async () => {
    const logger = pino({ level: 'error' }, { write: (line: string) => { logged.push(line); } });
    server = await startEmbeddedRelay({ logger }, (relay) => {
      relay.onMessage('/boom', () => { throw new Error('connection string postgres://secret@db'); });
      relay.onMessage('/async-boom', async () => { await Promise.resolve(); throw new Error('later secret'); });
      relay.onMessage('/order', (msg) => {
        const { item } = msg.json<{ item: number }>();
        if (item === 42) throw new AppError('OUT_OF_STOCK', `item ${item} is out of stock`);
        return { ordered: item };
      });
      relay.onMessage('/order-reply', { sendToUser: '/queue/orders' }, (msg) => msg.json());
      relay.onMessage('/bad-reply', (_msg, ctx) => ctx.replyToUser('/nowhere/x', 'lost'));
    });
  });
  after(async () => { await server.close(); });

  async function session(user: string): Promise<{ client: TestClient; errors: TestSubscription }> {
    const client = track(await wsClient(server, { login: user }));
    const errors = await client.subscribe('/user/queue/errors');
    return { client, errors };
  }

  async function report(errors: TestSubscription, what: string): Promise<ErrorReport> {
    const m = await errors.messages.next(what);
    expect(m.headers['content-type']).to.equal('application/json');
    expect(m.headers.destination).to.equal('/user/queue/errors');
    return JSON.parse(m.body) as ErrorReport;
  }

  /** The session still works: a round trip through a topic. */
  async function stillOpen(client: TestClient): Promise<void> {
    const topic = `/topic/${unique('alive')}`;
    const sub = await client.subscribe(topic);
    await client.publish(topic, 'alive');
    expect((await sub.messages.next('a message after the error')).body).to.equal('alive');
  }

  it('a handler that throws: HANDLER_ERROR (details only in the log), the RECEIPT, and the session goes on', async () => {
    const { client, errors } = await session(unique('ann'));
    await client.publish('/app/boom', 'x'); // resolves on the RECEIPT
    const r = await report(errors, 'the error report');
    expect(r).to.deep.equal({ code: 'HANDLER_ERROR', message: 'the handler for /app/boom failed (see the server log)', destination: '/app/boom' });
    expect(logged.some((line) => line.includes('postgres://secret@db')), logged.join('\n')).to.equal(true);
    await stillOpen(client);
  });

  it('an async handler that rejects: the same', async () => {
    const { client, errors } = await session(unique('ben'));
    await client.publish('/app/async-boom', 'x');
    expect((await report(errors, 'the error report')).code).to.equal('HANDLER_ERROR');
    await stillOpen(client);
  });

  it('an AppError reaches the sender with its own code and message', async () => {
    const { client, errors } = await session(unique('cat'));
    await client.publish('/app/order', JSON.stringify({ item: 42 }));
    expect(await report(errors, 'the error report')).to.deep.equal({ code: 'OUT_OF_STOCK', message: 'item 42 is out of stock', destination: '/app/order' });
    await stillOpen(client);
  });

  it('a body that is not JSON for msg.json(): BAD_REQUEST', async () => {
    const { client, errors } = await session(unique('dan'));
    await client.publish('/app/order-reply', 'not json');
    const r = await report(errors, 'the error report');
    expect(r.code).to.equal('BAD_REQUEST');
    expect(r.message).to.match(/not JSON/);
    await stillOpen(client);
  });

  it('an /app destination with no handler: NO_HANDLER', async () => {
    const { client, errors } = await session(unique('eve'));
    await client.publish('/app/no-such-handler', 'x');
    expect(await report(errors, 'the error report')).to.deep.equal({
      code: 'NO_HANDLER', message: 'no application handler for /app/no-such-handler', destination: '/app/no-such-handler',
    });
    await stillOpen(client);
  });

  it('a reply the handler cannot send is reported like its own error', async () => {
    const { client, errors } = await session(unique('fay'));
    await client.publish('/app/bad-reply', 'x');
    expect((await report(errors, 'the error report')).code).to.equal('BAD_REQUEST');
    await stillOpen(client);
  });

  it('reports to the sending session only, and before the SEND\'s RECEIPT', async () => {
    const user = unique('gus');
    const first = await session(user);
    const second = await session(user);
    const raw = track(await RawStomp.open(server.wsUrl));
    await raw.connect({ login: user });
    raw.sendFrame('SUBSCRIBE', { id: 'errors', destination: '/user/queue/errors', receipt: 'sub' });
    await raw.expect('RECEIPT');
    raw.sendFrame('SEND', { destination: '/app/boom', receipt: 'sent' }, 'x');
    const message = await raw.expect('MESSAGE', 'the error report first');
    expect(JSON.parse(message.body.toString()).code).to.equal('HANDLER_ERROR');
    expect((await raw.expect('RECEIPT', 'then the RECEIPT')).headers['receipt-id']).to.equal('sent');
    // The user's other sessions got nothing: each one's first report is its own.
    await second.client.publish('/app/no-such-handler', 'x');
    expect((await report(second.errors, 'the second session\'s own report')).code).to.equal('NO_HANDLER');
    await first.client.publish('/app/order', JSON.stringify({ item: 42 }));
    expect((await report(first.errors, 'the first session\'s own report')).code).to.equal('OUT_OF_STOCK');
  });

  it('a failing handler inside a transaction: reported at COMMIT, whose RECEIPT still comes', async () => {
    const user = unique('hal');
    const raw = track(await RawStomp.open(server.wsUrl));
    await raw.connect({ login: user });
    raw.sendFrame('SUBSCRIBE', { id: 'errors', destination: '/user/queue/errors', receipt: 'sub' });
    await raw.expect('RECEIPT');
    raw.sendFrame('BEGIN', { transaction: 't' });
    raw.sendFrame('SEND', { destination: '/app/boom', transaction: 't' }, 'x');
    raw.sendFrame('COMMIT', { transaction: 't', receipt: 'committed' });
    expect(JSON.parse((await raw.expect('MESSAGE')).body.toString()).code).to.equal('HANDLER_ERROR');
    expect((await raw.expect('RECEIPT')).headers['receipt-id']).to.equal('committed');
    raw.sendFrame('DISCONNECT', { receipt: 'bye' });
    expect((await raw.expect('RECEIPT')).headers['receipt-id']).to.equal('bye');
  });

  it('protocol violations still end the session', async () => {
    const raw = track(await RawStomp.open(server.wsUrl));
    await raw.connect({ login: unique('ivy') });
    raw.sendFrame('SEND', {}, 'no destination');
    expect((await raw.expect('ERROR')).headers.code).to.equal('MISSING_HEADER');
    await raw.waitClosed();
  });

  describe('with another error destination (appErrorDestination)', () => {
    let custom: TestRelay;
    before(async () => {
      custom = await startEmbeddedRelay({ appErrorDestination: '/queue/app-problems' }, (relay) => {
        relay.onMessage('/boom', () => { throw new Error('x'); });
      });
    });
    after(async () => { await custom.close(); });

    it('sends the reports there', async () => {
      const client = track(await wsClient(custom, { login: unique('jon') }));
      const problems = await client.subscribe('/user/queue/app-problems');
      await client.publish('/app/boom', 'x');
      const m = await problems.messages.next('the report');
      expect(JSON.parse(m.body).code).to.equal('HANDLER_ERROR');
    });
  });
});
