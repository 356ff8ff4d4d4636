/**
 * The library API a backend embedding the relay calls: sendToUser, sendToSession, publish.
 */
import { expect } from 'chai';
import { createRelay, type Relay } from '../../../server/relay';
import { silentLogger } from '../../../server/observability/logger';
import { connectClient, type TestClient } from '../cluster/cluster-helpers';

describe('relay library API (embedded broker)', function () {
  this.timeout(20_000);
  let relay: Relay;
  let ws: string;
  const clients: TestClient[] = [];

  before(async () => {
    relay = createRelay({ logger: silentLogger(), serveDemo: false, instanceId: 'api' });
    const { port } = await relay.listen(0, '127.0.0.1');
    ws = `ws://127.0.0.1:${port}/ws`;
  });
  afterEach(async () => { await Promise.all(clients.splice(0).map((c) => c.disconnect())); });
  after(async () => { await relay.close(); });

  async function client(login: string): Promise<TestClient> {
    const c = await connectClient(ws, login);
    clients.push(c);
    return c;
  }

  it('sendToUser reaches every session of the user and reports them', async () => {
    const one = await (await client('ann')).subscribe('/user/queue/inbox');
    const two = await (await client('ann')).subscribe('/user/queue/inbox');
    const result = await relay.sendToUser('ann', '/queue/inbox', { n: 1 }, { headers: { priority: 5 } });
    expect(result).to.deep.include({ user: 'ann', sessions: 2, destination: '/queue/inbox' });
    for (const inbox of [one, two]) {
      const [m] = await inbox.waitFor(1);
      expect(JSON.parse(m.body)).to.deep.equal({ n: 1 });
      expect(m.headers.priority).to.equal('5');
    }
  });

  it('sendToSession reaches only the named session, without exposing the relay\'s routing header', async () => {
    const first = await client('ben');
    const second = await client('ben');
    const firstInbox = await first.subscribe('/user/queue/inbox');
    const secondInbox = await second.subscribe('/user/queue/inbox');
    await relay.sendToSession('ben', second.connected.headers.session, '/queue/inbox', 'just you');
    await relay.sendToUser('ben', '/queue/inbox', 'everyone');
    await firstInbox.waitFor(1);
    await secondInbox.waitFor(2);
    expect(firstInbox.bodies()).to.deep.equal(['everyone']);
    expect(secondInbox.bodies()).to.deep.equal(['just you', 'everyone']);
    expect(Object.keys(secondInbox.messages[0].headers).filter((h) => h.startsWith('x-stomp-relay'))).to.deep.equal([]);
  });

  it('rejects a sendToUser whose destination is outside the relayed prefixes', async () => {
    const err = await relay.sendToUser('ann', '/elsewhere/x', 1).then(() => null, (e: Error & { code?: string }) => e);
    expect(err?.code).to.equal('BAD_REQUEST');
  });

  it('publish() reaches topic subscribers like a client SEND', async () => {
    const inbox = await (await client('cat')).subscribe('/topic/news');
    await relay.publish('/topic/news', { headline: 'x' }, { edition: 'late' });
    const [m] = await inbox.waitFor(1);
    expect(JSON.parse(m.body)).to.deep.equal({ headline: 'x' });
    expect(m.headers.edition).to.equal('late');
    expect(m.headers['content-type']).to.equal('application/json');
  });
});
