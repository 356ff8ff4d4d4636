/**
 * User destinations through a real relay: pushes reach every session of one user and nobody else,
 * reading stays private, the internal namespace stays closed, and application handlers reply to
 * the sender's user destination (the seeds' greeting example).
 */
import { expect } from 'chai';
import {
  RawStomp, push, request, sockjsClient, startRelay, unique, waitFor, wsClient,
  type TestRelay,
  trackClients,
} from '../../harness/stomp-test-kit';

describe('server: user destinations', function () {
  let server: TestRelay;
  const track = trackClients();

  before(async () => {
    server = await startRelay();
    server.relay.onMessage('/hello', { sendToUser: '/queue/greetings' }, (msg) => {
      const { name } = msg.json<{ name: string }>();
      return { content: `Hello, ${name}!`, from: msg.user };
    });
  });
  after(async () => { await server.close(); });

  /** A raw session as `login`, expecting `frame` to be refused with ERROR `code`. */
  async function expectRefused(login: string | undefined, command: 'SUBSCRIBE' | 'SEND', destination: string, code: string, extra: Record<string, string> = {}) {
    const raw = track(await RawStomp.open(server.wsUrl));
    await raw.connect(login === undefined ? {} : { login });
    if (command === 'SUBSCRIBE') raw.sendFrame('SUBSCRIBE', { ...extra, id: 's', destination, receipt: 'r' });
    else raw.sendFrame('SEND', { ...extra, destination, receipt: 'r' }, 'x');
    const error = await raw.expect('ERROR', `ERROR for ${command} ${destination}`);
    expect(error.headers.code, `${command} ${destination}: ${error.headers.message}`).to.equal(code);
    expect(error.headers.message).to.be.a('string').and.not.equal('');
    expect(error.headers['receipt-id'], 'the failed frame\'s receipt is named').to.equal('r');
    await raw.waitClosed();
  }

  it('pushes to every session of alice (ws and SockJS), and to nobody else', async () => {
    const alice = unique('alice');
    const bob = unique('bob');
    const aliceWs = track(await wsClient(server, { login: alice }));
    const aliceSj = track(await sockjsClient(server, 'xhr-streaming', { login: alice }));
    const bobWs = track(await wsClient(server, { login: bob }));
    const subs = await Promise.all([aliceWs, aliceSj, bobWs].map((c) => c.subscribe('/user/queue/x')));

    const res = await push(server, alice, { destination: '/queue/x', payload: { text: 'for alice' }, headers: { 'x-trace': 't1' } });
    expect(res.status).to.equal(202);
    expect(res.body).to.include({ user: alice, destination: '/queue/x', sessions: 2 });
    expect(res.body.instances).to.deep.equal([{ instanceId: 'test-a', sessions: 2 }]);

    for (const [i, sub] of subs.slice(0, 2).entries()) {
      const m = await sub.messages.next(`push at alice's session ${i}`);
      expect(JSON.parse(m.body)).to.deep.equal({ text: 'for alice' });
      expect(m.headers.destination, 'the client sees the destination it subscribed to').to.equal('/user/queue/x');
      expect(m.headers['content-type']).to.equal('application/json');
      expect(m.headers['x-trace']).to.equal('t1');
    }

    expect((await push(server, bob, { destination: '/queue/x', payload: 'sentinel' })).status).to.equal(202);
    const atBob = await subs[2].messages.next('sentinel at bob');
    expect(atBob.body).to.equal('sentinel');
    expect(subs[2].messages.all.map((m) => m.body), 'bob never saw alice\'s push').to.deep.equal(['sentinel']);
    expect(subs[0].messages.pending + subs[1].messages.pending).to.equal(0);
  });

  it('keeps names that differ only in case or Unicode normalisation apart (Alice is not alice; NFC é is not NFD é)', async () => {
    const base = unique('alice');
    const names = [`A${base.slice(1)}`, base, `${base}-\u00e9`, `${base}-e\u0301`];
    const clients = await Promise.all(names.map(async (login) => track(await wsClient(server, { login }))));
    const subs = await Promise.all(clients.map((c) => c.subscribe('/user/queue/x')));
    for (const [i, user] of names.entries()) {
      const res = await push(server, user, { destination: '/queue/x', payload: `for ${i}` });
      expect(res.status).to.equal(202);
      expect(res.body, JSON.stringify(user)).to.include({ user, sessions: 1 });
    }
    for (const [i, sub] of subs.entries()) expect((await sub.messages.next(`push to ${JSON.stringify(names[i])}`)).body).to.equal(`for ${i}`);
    // Each push was followed by the others: had two names shared a mailbox, one would hold a second message by now.
    for (const [i, sub] of subs.entries()) expect(sub.messages.all.map((m) => m.body), JSON.stringify(names[i])).to.deep.equal([`for ${i}`]);
  });

  it('lets bob send alice a private message at /user/alice/queue/..., read only by alice', async () => {
    const alice = unique('alice');
    const bob = unique('bob');
    const aliceWs = track(await wsClient(server, { login: alice }));
    const sub = await aliceWs.subscribe('/user/queue/chat');
    const bobWs = track(await wsClient(server, { login: bob }));
    await bobWs.publish(`/user/${alice}/queue/chat`, 'psst');
    const m = await sub.messages.next();
    expect(m.body).to.equal('psst');
    expect(m.headers.destination).to.equal('/user/queue/chat');
  });

  it('refuses bob subscribing to alice\'s destination with ACCESS_DENIED', async () => {
    await expectRefused('bob', 'SUBSCRIBE', '/user/alice/queue/x', 'ACCESS_DENIED');
  });

  it('accepts alice subscribing to /user/alice/queue/x, her own destination spelled out', async () => {
    const alice = unique('alice');
    const client = track(await wsClient(server, { login: alice }));
    const sub = await client.subscribe(`/user/${alice}/queue/x`);
    await push(server, alice, { destination: '/queue/x', payload: 'mine' });
    expect((await sub.messages.next()).body).to.equal('mine');
  });

  it('refuses an anonymous session subscribing to a named user\'s destination (its own /user/queue/x it may use)', async () => {
    await expectRefused(undefined, 'SUBSCRIBE', `/user/${unique('bob')}/queue/x`, 'ACCESS_DENIED');
  });

  describe('the internal namespace (/exchange/amq.direct) is closed to clients', () => {
    const spellings = [
      '/exchange/amq.direct/stomp-relay.user.alice.~2Fqueue~2Fx',
      '/exchange/amq.direct/stomp-relay.registry',
      '/exchange/amq%2Edirect/stomp-relay.registry',
      '/exchange%2Famq.direct/stomp-relay.registry',
      '%2Fexchange%2Famq%2Edirect%2Fstomp-relay.registry',
      '/exchange/amq.direct',
    ];
    for (const destination of spellings) {
      it(`refuses SUBSCRIBE to ${destination}`, () => expectRefused('mallory', 'SUBSCRIBE', destination, 'ACCESS_DENIED'));
    }
    it('refuses SEND into the internal namespace (forging a push to alice)', () =>
      expectRefused('mallory', 'SEND', '/exchange/amq.direct/stomp-relay.user.alice.~2Fqueue~2Fx', 'ACCESS_DENIED'));
    it('refuses SEND with a percent-encoded spelling', () =>
      expectRefused('mallory', 'SEND', '/exchange/amq%2edirect/stomp-relay.registry', 'ACCESS_DENIED'));
  });

  describe('the queues the relay and RabbitMQ name for themselves are closed to clients', () => {
    for (const [destination, extra] of [
      ['/amq/queue/stomp-relay.s1.0a1b2c3d4e5f', {}],
      ['/amq/queue/stomp-subscription-Ab_c', {}],
      ['/amq/queue/amq.gen-Xy1', {}],
      ['/queue/stomp%2Drelay.s1.0a1b2c3d4e5f', {}],
      ['/topic/news', { 'x-queue-name': 'stomp-relay.s1.0a1b2c3d4e5f' }],
      ['/user/queue/x', { 'x-queue-name': 'stomp-subscription-Ab_c' }],
    ] as Array<[string, Record<string, string>]>) {
      const shown = `${destination}${extra['x-queue-name'] ? ` x-queue-name:${extra['x-queue-name']}` : ''}`;
      it(`refuses SUBSCRIBE to ${shown} with DESTINATION_NOT_ALLOWED, as on RabbitMQ`, () =>
        expectRefused('mallory', 'SUBSCRIBE', destination, 'DESTINATION_NOT_ALLOWED', extra));
    }
    it('refuses SEND into one (forging a message on alice\'s shared subscription)', () =>
      expectRefused('mallory', 'SEND', '/reply-queue/stomp-relay.s1.0a1b2c3d4e5f', 'DESTINATION_NOT_ALLOWED'));
  });

  it('runs the /app/hello handler and replies to every session of the sender\'s user only', async () => {
    const alice = unique('alice');
    const bob = unique('bob');
    const aliceWs = track(await wsClient(server, { login: alice }));
    const aliceSj = track(await sockjsClient(server, 'xhr-polling', { login: alice }));
    const bobWs = track(await wsClient(server, { login: bob }));
    const [a1, a2, b] = await Promise.all([aliceWs, aliceSj, bobWs].map((c) => c.subscribe('/user/queue/greetings')));

    await aliceWs.publish('/app/hello', JSON.stringify({ name: 'Alice' }), { 'content-type': 'application/json' });
    for (const sub of [a1, a2]) {
      const m = await sub.messages.next('greeting');
      expect(JSON.parse(m.body)).to.deep.equal({ content: 'Hello, Alice!', from: alice });
      expect(m.headers.destination).to.equal('/user/queue/greetings');
    }
    await bobWs.publish('/app/hello', JSON.stringify({ name: 'Bob' }));
    expect(JSON.parse((await b.messages.next('bob\'s own greeting')).body).content).to.equal('Hello, Bob!');
    expect(b.messages.all.length, 'bob got only his own greeting').to.equal(1);
    expect(a1.messages.pending + a2.messages.pending, 'alice did not get bob\'s').to.equal(0);
  });

  it('answers a SEND to an /app destination without a handler with NO_HANDLER on /user/queue/errors, not an ERROR', async () => {
    const client = track(await wsClient(server, { login: unique('alice') }));
    const errors = await client.subscribe('/user/queue/errors');
    await client.publish('/app/no-such-handler', 'x');
    expect(JSON.parse((await errors.messages.next('the report')).body).code).to.equal('NO_HANDLER');
    expect(client.client.connected).to.equal(true);
  });

  it('delivers relay.sendToUser() from the host application', async () => {
    const alice = unique('alice');
    const client = track(await wsClient(server, { login: alice }));
    const sub = await client.subscribe('/user/topic/news');
    const result = await server.relay.sendToUser(alice, '/topic/news', 'extra!');
    expect(result.sessions).to.equal(1);
    const m = await sub.messages.next();
    expect(m.body).to.equal('extra!');
    expect(m.headers['content-type']).to.match(/^text\/plain/);
  });

  it('answers GET /users/:user from presence, following sessions as they come and go', async () => {
    const alice = unique('alice');
    const before = await request(`${server.http}/users/${alice}`);
    expect(before.status).to.equal(200);
    expect(before.body).to.deep.equal({ user: alice, sessions: 0, instances: [] });

    const c1 = track(await wsClient(server, { login: alice }));
    track(await sockjsClient(server, 'xhr-streaming', { login: alice }));
    const during = await request(`${server.http}/users/${alice}`);
    expect(during.body).to.deep.equal({ user: alice, sessions: 2, instances: [{ instanceId: 'test-a', sessions: 2 }] });

    await c1.close();
    await waitFor(async () => (await request(`${server.http}/users/${alice}`)).body.sessions === 1, 'presence to drop the closed session');
  });
});
