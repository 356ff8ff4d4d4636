/**
 * Resume across instances on real RabbitMQ: the history lives in the broker's streams, so a session
 * that comes back on another instance gets what was pushed while it was away.
 */
import { expect } from 'chai';
import { sharedRabbitNode, type RabbitNode } from '../../harness/rabbitmq';
import { closeAll, push, unique, wsClient, type TestClient, type TestRelay } from '../../harness/stomp-test-kit';
import { startInstance } from './cluster-helpers';

describe('resume across instances (RabbitMQ)', function () {
  this.timeout(60_000);
  let node: RabbitNode;
  let b: TestRelay;
  const clients: TestClient[] = [];

  before(async () => {
    node = await sharedRabbitNode();
    b = await startInstance(node.relayOptions, 'resume-b');
  });

  afterEach(async () => {
    await closeAll(clients.splice(0));
  });

  after(async () => {
    await b?.close();
  });

  async function client(instance: TestRelay, login: string): Promise<TestClient> {
    const c = await wsClient(instance, { login });
    clients.push(c);
    return c;
  }

  it('gives a session that resumes on another instance what was pushed while it was away, then live, no gap', async () => {
    const alice = unique('alice');
    const a = await startInstance(node.relayOptions, 'resume-a');
    let token: string | undefined;
    try {
      const first = await (await client(a, alice)).subscribe('/user/queue/notes');
      expect((await push(b, alice, { destination: '/queue/notes', payload: 'seen' })).status).to.equal(202);
      const seen = await first.messages.next('the push seen on A');
      token = seen.headers['resume-token'];
      expect(token, 'resume-token on a user-destination MESSAGE').to.be.a('string');
    } finally {
      await a.close(); // instance A is gone; alice's page reconnects to B
    }
    for (const payload of ['away-1', 'away-2', 'away-3']) {
      expect((await push(b, alice, { destination: '/queue/notes', payload })).status).to.equal(202);
    }
    const resumed = await (await client(b, alice)).subscribe('/user/queue/notes', { 'resume-from': token! });
    const replayed = await resumed.messages.take(3, 'the pushes made while alice was away');
    expect(replayed.map((m) => m.body)).to.deep.equal(['away-1', 'away-2', 'away-3']);
    for (const m of replayed) expect(m.headers['resume-gap']).to.equal(undefined);
    expect(new Set(replayed.map((m) => m.headers['resume-token'])).size).to.equal(3);
    await push(b, alice, { destination: '/queue/notes', payload: 'live' });
    expect((await resumed.messages.next('the live push')).body).to.equal('live');
    expect(resumed.messages.all.map((m) => m.body)).to.deep.equal(['away-1', 'away-2', 'away-3', 'live']);
  });

  it('replays nothing of another user\'s, and opens with resume-gap for a token that is not one', async () => {
    const alice = unique('alice');
    const mallory = unique('mallory');
    const aliceInbox = await (await client(b, alice)).subscribe('/user/queue/notes');
    await push(b, alice, { destination: '/queue/notes', payload: 'alice-0' });
    const aliceToken = (await aliceInbox.messages.next('alice-0')).headers['resume-token'];
    await push(b, alice, { destination: '/queue/notes', payload: 'alice-1' });
    await aliceInbox.messages.next('alice-1');
    // Mallory resumes her own destination from alice's token: nothing of alice's comes.
    const stolen = await (await client(b, mallory)).subscribe('/user/queue/notes', { 'resume-from': aliceToken });
    await push(b, mallory, { destination: '/queue/notes', payload: 'mallory-live' });
    const seenByMallory = [];
    for (;;) {
      const m = await stolen.messages.next('mallory\'s own push');
      seenByMallory.push(m);
      if (m.body === 'mallory-live') break;
    }
    for (const m of seenByMallory) expect(m.body).to.not.match(/^alice-/);
    const forged = await (await client(b, alice)).subscribe('/user/queue/notes', { 'resume-from': 'r1.4.0.kx0000.deadbeef.1' });
    const opening = await forged.messages.next('the gap marker');
    expect(opening.headers['resume-gap']).to.equal('true');
    expect(opening.body).to.equal('');
  });
});
