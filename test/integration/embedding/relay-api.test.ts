/**
 * The library API a backend embedding the relay calls: sendToUser, sendToSession, publish.
 */
import { expect } from 'chai';
import type { Relay } from '../../../server/relay';
import { closeAll, startRelay, wsClient, type TestClient, type TestRelay } from '../../harness/stomp-test-kit';

describe('relay library API (embedded broker)', function () {
  this.timeout(20_000);
  let server: TestRelay;
  let relay: Relay;
  const clients: TestClient[] = [];

  before(async () => {
    server = await startRelay({ serveDemo: false, instanceId: 'api' });
    relay = server.relay;
  });
  afterEach(async () => { await closeAll(clients.splice(0)); });
  after(async () => { await server.close(); });

  async function client(login: string): Promise<TestClient> {
    const c = await wsClient(server, { login });
    clients.push(c);
    return c;
  }

  async function inbox(c: TestClient, destination: string) {
    return (await c.subscribe(destination)).messages;
  }

  it('sendToUser reaches every session of the user and reports them', async () => {
    const one = await inbox(await client('ann'), '/user/queue/inbox');
    const two = await inbox(await client('ann'), '/user/queue/inbox');
    const result = await relay.sendToUser('ann', '/queue/inbox', { n: 1 }, { headers: { priority: 5 } });
    expect(result).to.deep.include({ user: 'ann', sessions: 2, destination: '/queue/inbox' });
    for (const messages of [one, two]) {
      const m = await messages.next('the message');
      expect(JSON.parse(m.body)).to.deep.equal({ n: 1 });
      expect(m.headers.priority).to.equal('5');
    }
  });

  it('sendToSession reaches only the named session, without exposing the relay\'s routing header', async () => {
    const first = await client('ben');
    const second = await client('ben');
    const firstInbox = await inbox(first, '/user/queue/inbox');
    const secondInbox = await inbox(second, '/user/queue/inbox');
    await relay.sendToSession('ben', second.connected.headers.session, '/queue/inbox', 'just you');
    await relay.sendToUser('ben', '/queue/inbox', 'everyone');
    expect((await firstInbox.next('the message to everyone')).body).to.equal('everyone');
    const [mine, everyone] = await secondInbox.take(2);
    expect([mine.body, everyone.body]).to.deep.equal(['just you', 'everyone']);
    expect(firstInbox.all).to.have.length(1);
    expect(Object.keys(mine.headers).filter((h) => h.startsWith('x-stomp-relay'))).to.deep.equal([]);
  });

  it('does not let messages for a sibling session clog a client-ack subscription (prefetch 1)', async () => {
    const target = await client('fay');
    const sibling = await client('fay');
    await target.subscribe('/user/queue/jobs');
    const siblingJobs = (await sibling.subscribe('/user/queue/jobs', { ack: 'client', 'prefetch-count': '1' })).messages;
    // Three messages for the other session reach the sibling's subscription and are passed over.
    for (let i = 0; i < 3; i++) await relay.sendToSession('fay', target.connected.headers.session, '/queue/jobs', `only for target ${i}`);
    await relay.sendToUser('fay', '/queue/jobs', 'for every session');
    // Were a passed-over delivery left unacked, the prefetch slot would stay taken and this never arrive.
    const m = await siblingJobs.next('the message for every session');
    expect(m.body).to.equal('for every session');
    expect(siblingJobs.all).to.have.length(1);
  });

  it('reaches a user whose name is as long as allowed and full of characters routing keys cannot hold', async () => {
    const name = 'ü.@'.repeat(85) + 'x'; // 256 characters, 6 escaped bytes each for most of them
    const inbox = (await (await client(name)).subscribe('/user/queue/' + 'long.'.repeat(40))).messages;
    await relay.sendToUser(name, '/queue/' + 'long.'.repeat(40), 'fits');
    expect((await inbox.next('the push')).body).to.equal('fits');
  });

  it('ignores relay-internal headers a client puts on its own SEND', async () => {
    const dan = await inbox(await client('dan'), '/user/queue/inbox');
    const sender = await client('eve');
    // Were the header kept, it would address one (nonexistent) session of dan and nobody would get it.
    await sender.publish('/user/dan/queue/inbox', 'private message', { 'x-stomp-relay-session': 'no-such-session' });
    const m = await dan.next('the private message');
    expect(m.body).to.equal('private message');
    expect(m.headers['x-stomp-relay-session']).to.equal(undefined);
  });

  it('pushes, publishes and handler replies carry no x-relay-sender, and may not set one (BAD_REQUEST)', async () => {
    const codeOf = (p: Promise<unknown>) => p.then(() => 'resolved', (e: { code?: string }) => e.code);
    const ivy = await client('ivy');
    const inboxOf = await inbox(ivy, '/user/queue/inbox');
    const news = await inbox(ivy, '/topic/sender-news');
    await relay.sendToUser('ivy', '/queue/inbox', 'from the backend');
    await relay.publish('/topic/sender-news', 'published');
    for (const m of [await inboxOf.next('the push'), await news.next('the publish')]) {
      expect(Object.keys(m.headers).filter((h) => h.toLowerCase() === 'x-relay-sender'), m.body).to.deep.equal([]);
    }
    expect(await codeOf(relay.sendToUser('ivy', '/queue/inbox', 'x', { headers: { 'x-relay-sender': 'ann' } }))).to.equal('BAD_REQUEST');
    expect(await codeOf(relay.sendToUser('ivy', '/queue/inbox', 'x', { headers: { 'X-Relay-Sender': 'ann' } }))).to.equal('BAD_REQUEST');
    expect(await codeOf(relay.publish('/topic/sender-news', 'x', { 'x-relay-sender': 'ann' }))).to.equal('BAD_REQUEST');
  });

  it('an application handler sees the relay\'s x-relay-sender, not the client\'s', async () => {
    relay.onMessage('/sender-echo', { sendToUser: '/queue/echo' }, (msg) => ({ header: msg.headers['x-relay-sender'] ?? null, user: msg.user }));
    const jon = await client('jon');
    const echoes = await inbox(jon, '/user/queue/echo');
    await jon.publish('/app/sender-echo', '{}', { 'x-relay-sender': 'ann' });
    const m = await echoes.next('the handler\'s reply');
    expect(JSON.parse(m.body)).to.deep.equal({ header: 'jon', user: 'jon' });
    expect(m.headers['x-relay-sender'], 'a handler\'s reply is a push: no sender').to.equal(undefined);
  });

  it('rejects a sendToUser whose destination is outside the relayed prefixes', async () => {
    const err = await relay.sendToUser('ann', '/elsewhere/x', 1).then(() => null, (e: Error & { code?: string }) => e);
    expect(err?.code).to.equal('BAD_REQUEST');
  });

  it('publish() refuses the relay\'s internal namespace and reserved headers, as for clients', async () => {
    const codeOf = (p: Promise<unknown>) => p.then(() => 'resolved', (e: { code?: string }) => e.code);
    // Were this allowed, a caller could forge presence (this is the registry destination).
    expect(await codeOf(relay.publish('/exchange/amq.direct/stomp-relay.registry', { v: 1, instanceId: 'evil', users: { mallory: 99 } })))
      .to.equal('DESTINATION_NOT_ALLOWED');
    expect(await codeOf(relay.publish('/exchange/amq.direct/stomp-relay.user.ann.~2Fqueue~2Finbox', 'forged'))).to.equal('DESTINATION_NOT_ALLOWED');
    expect(await codeOf(relay.publish('/topic/news', 'x', { 'x-stomp-relay-session': 'abc' }))).to.equal('BAD_REQUEST');
    expect(await codeOf(relay.publish('/topic/news', 'x', { 'message-id': 'forged' }))).to.equal('BAD_REQUEST');
    expect(relay.userPresence('mallory').sessions).to.equal(0);
  });

  it('publish() reaches topic subscribers like a client SEND', async () => {
    const news = await inbox(await client('cat'), '/topic/news');
    await relay.publish('/topic/news', { headline: 'x' }, { edition: 'late' });
    const m = await news.next('the published message');
    expect(JSON.parse(m.body)).to.deep.equal({ headline: 'x' });
    expect(m.headers.edition).to.equal('late');
    expect(m.headers['content-type']).to.equal('application/json');
  });
});
