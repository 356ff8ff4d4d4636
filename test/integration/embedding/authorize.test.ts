/**
 * `createRelay({ authorize })`: the shared authorization suite run with a hand-written function,
 * then what only a function can do wrong (throw, reject, answer neither true nor false, be slow,
 * try to mutate what it is shown).
 */
import { expect } from 'chai';
import pino from 'pino';
import type { Authorize, AuthorizationRequest } from '../../../server/auth/authorization';
import { RawStomp, encodeRawFrame, startEmbeddedRelay, tryConnect, unique, wsFactory, type TestClient, type TestRelay } from '../../harness/stomp-test-kit';
import { SECRET, authorizationSuite, policyFunction, token } from './authorization-suite';

authorizationSuite('authorization: createRelay({ authorize }) with a hand-written policy', () => ({ authorize: policyFunction }));

describe('authorization: what an authorize function is shown and how its failures end a session', function () {
  this.timeout(20_000);
  let server: TestRelay;
  /** The decision of the test under way (the relay's authorize calls it). */
  let current: Authorize = () => true;
  const logged: string[] = [];
  const open: Array<{ close(): Promise<void> }> = [];

  before(async () => {
    const logger = pino({ level: 'error' }, { write: (line: string) => { logged.push(line); } });
    server = await startEmbeddedRelay({ authJwtSecret: SECRET, logger, authorize: (request) => current(request) });
  });
  afterEach(async () => {
    current = () => true;
    logged.length = 0;
    await Promise.all(open.splice(0).map((c) => c.close().catch(() => undefined)));
  });
  after(async () => { await server.close(); });

  async function client(user: string, claims: object = {}): Promise<TestClient> {
    const outcome = await tryConnect(wsFactory(server.wsUrl), { connectHeaders: { passcode: token(user, claims) } });
    if (!outcome.ok) throw new Error(outcome.error.headers.message);
    open.push(outcome.client);
    return outcome.client;
  }

  async function raw(user: string): Promise<RawStomp> {
    const peer = await RawStomp.open(server.wsUrl);
    open.push(peer);
    await peer.connect({ passcode: token(user) });
    return peer;
  }

  it('is asked with the principal (JWT claims included), session id, command, destination as sent and headers, all frozen', async () => {
    const seen: AuthorizationRequest[] = [];
    current = (request) => { seen.push(request); return true; };
    const c = await client('dora', { role: 'editor', groups: ['a', 'b'] });
    await c.subscribe('/user/queue/inbox', { 'x-purpose': 'test' });
    await c.publish('/topic/news', 'hi', { 'x-trace': 't1' });
    expect(seen.map((r) => [r.command, r.destination])).to.deep.equal([['SUBSCRIBE', '/user/queue/inbox'], ['SEND', '/topic/news']]);
    const [subscribe, send] = seen;
    expect(subscribe.sessionId).to.equal(c.connected.headers.session);
    expect(subscribe.principal?.name).to.equal('dora');
    expect(subscribe.principal?.claims).to.include({ role: 'editor', sub: 'dora' });
    expect(subscribe.headers['x-purpose']).to.equal('test');
    expect(send.headers['x-trace']).to.equal('t1');
    for (const frozen of [subscribe, subscribe.headers, subscribe.principal, subscribe.principal?.claims, subscribe.principal?.claims?.groups]) {
      expect(Object.isFrozen(frozen), JSON.stringify(frozen)).to.equal(true);
    }
  });

  it('a function that mutates what it is shown changes nothing the session uses', async () => {
    current = (request) => {
      try { (request.headers as Record<string, string>).destination = '/topic/elsewhere'; } catch { /* frozen */ }
      return true;
    };
    const c = await client('eli');
    const sub = await c.subscribe('/topic/mutation');
    await c.publish('/topic/mutation', 'unchanged');
    expect((await sub.messages.next('the message')).headers.destination).to.equal('/topic/mutation');
  });

  it('is never asked for UNSUBSCRIBE, ACK, NACK, BEGIN, COMMIT or ABORT', async () => {
    const commands: string[] = [];
    current = (request) => { commands.push(request.command); return true; };
    const peer = await raw('fay');
    const queue = `/queue/${unique('jobs')}`;
    peer.sendFrame('SUBSCRIBE', { id: 's1', destination: queue, ack: 'client-individual', receipt: 'sub' });
    await peer.expect('RECEIPT');
    peer.sendFrame('SEND', { destination: queue }, 'one');
    peer.sendFrame('SEND', { destination: queue }, 'two');
    const first = await peer.expect('MESSAGE');
    const second = await peer.expect('MESSAGE');
    peer.sendFrame('ACK', { id: first.headers.ack });
    peer.sendFrame('NACK', { id: second.headers.ack, requeue: 'false' });
    peer.sendFrame('BEGIN', { transaction: 't' });
    peer.sendFrame('COMMIT', { transaction: 't' });
    peer.sendFrame('BEGIN', { transaction: 'u' });
    peer.sendFrame('ABORT', { transaction: 'u' });
    peer.sendFrame('UNSUBSCRIBE', { id: 's1', receipt: 'unsub' });
    await peer.expect('RECEIPT');
    expect(commands).to.deep.equal(['SUBSCRIBE', 'SEND', 'SEND']);
  });

  it('refuses when the function resolves false (async), with ERROR ACCESS_DENIED and receipt-id', async () => {
    current = async (request) => request.command !== 'SEND';
    const peer = await raw('gus');
    peer.sendFrame('SEND', { destination: '/topic/x', receipt: 'r1' }, 'no');
    const error = await peer.expect('ERROR');
    expect(error.headers.code).to.equal('ACCESS_DENIED');
    expect(error.headers.message).to.equal('access denied: SEND to /topic/x is not allowed for gus');
    expect(error.headers['receipt-id']).to.equal('r1');
    await peer.waitClosed();
  });

  it('checks a SEND inside a transaction when it arrives, not at COMMIT', async () => {
    current = (request) => request.destination !== '/topic/secret';
    const peer = await raw('hal');
    peer.sendFrame('BEGIN', { transaction: 't' });
    peer.sendFrame('SEND', { destination: '/topic/secret', transaction: 't', receipt: 'held' }, 'x');
    const error = await peer.expect('ERROR');
    expect(error.headers.code).to.equal('ACCESS_DENIED');
    expect(error.headers['receipt-id']).to.equal('held');
  });

  const failures: Array<[string, Authorize, RegExp]> = [
    ['throws', () => { throw new Error('database password is hunter2'); }, /hunter2/],
    ['rejects', () => Promise.reject(new Error('lookup failed: hunter2')), /hunter2/],
    ['returns neither true nor false', (() => 'yes') as unknown as Authorize, /not true or false/],
    ['resolves neither true nor false', (() => Promise.resolve(undefined)) as unknown as Authorize, /not true or false/],
  ];
  for (const [what, authorize, inLog] of failures) {
    it(`a function that ${what}: generic ERROR INTERNAL_ERROR (details only in the log), the others carry on`, async () => {
      const bystander = await client('ivy');
      const news = await bystander.subscribe('/topic/bystander');
      current = authorize;
      const peer = await raw('jon');
      peer.sendFrame('SUBSCRIBE', { id: 's', destination: '/topic/x', receipt: 'r' });
      const error = await peer.expect('ERROR');
      expect(error.headers.code).to.equal('INTERNAL_ERROR');
      expect(error.headers.message).to.match(/authoriz/).and.not.match(/hunter2/);
      expect(error.headers['receipt-id']).to.equal('r');
      await peer.waitClosed();
      expect(logged.some((line) => inLog.test(line) && /authoriz/.test(line)), logged.join('\n')).to.equal(true);
      current = () => true;
      await bystander.publish('/topic/bystander', 'still fine');
      expect((await news.messages.next('the bystander message')).body).to.equal('still fine');
    });
  }

  it('keeps frame order while decisions are async: SUBSCRIBE then SEND in one burst, a slow SEND before a fast one', async () => {
    const order: string[] = [];
    // A slower decision for frames marked x-slow: were later frames not held, they would overtake.
    current = async (request) => {
      order.push(`${request.command} ${request.headers['x-n'] ?? ''}`.trim());
      const turns = request.headers['x-slow'] ? 50 : 0;
      for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
      return true;
    };
    const peer = await raw('kim');
    const topic = `/topic/${unique('burst')}`;
    const burst = [
      encodeRawFrame('SUBSCRIBE', { id: 's', destination: topic, 'x-slow': '1' }),
      encodeRawFrame('SEND', { destination: topic, 'x-n': '1', 'x-slow': '1' }, 'first'),
      encodeRawFrame('SEND', { destination: topic, 'x-n': '2' }, 'second'),
      encodeRawFrame('SEND', { destination: topic, 'x-n': '3', receipt: 'done' }, 'third'),
    ];
    peer.send(Buffer.concat(burst));
    const frames = [await peer.frames.next(), await peer.frames.next(), await peer.frames.next(), await peer.frames.next()];
    expect(frames.map((f) => f.command === 'MESSAGE' ? f.body.toString() : f.command)).to.deep.equal(['first', 'second', 'third', 'RECEIPT']);
    expect(order).to.deep.equal(['SUBSCRIBE', 'SEND 1', 'SEND 2', 'SEND 3']);
  });
});
