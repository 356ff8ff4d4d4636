/**
 * Resume through a real relay (embedded broker; the RabbitMQ engine runs the same contract in
 * test/integration/rabbitmq and end to end in test/browser): `resume-token` on user-destination
 * MESSAGEs, SUBSCRIBE `resume-from` replaying what was missed before live, `resume-gap:true` when
 * it cannot, and nothing crossing users.
 */
import { expect } from 'chai';
import type { IMessage } from '@stomp/stompjs';
import { RawStomp, push, startRelay, unique, wsClient, type TestRelay, trackClients, type TestClient } from '../../harness/stomp-test-kit';

describe('server: resume (resume-token, resume-from, resume-gap)', function () {
  let server: TestRelay;
  const track = trackClients();

  before(async () => { server = await startRelay({ resumeMaxMessages: 20 }); });
  after(async () => { await server.close(); });

  async function pushAll(user: string, bodies: string[], destination = '/queue/notes'): Promise<void> {
    for (const payload of bodies) {
      const res = await push(server, user, { destination, payload });
      expect(res.status, res.text).to.be.within(200, 299);
    }
  }

  const bodies = (messages: IMessage[]) => messages.map((m) => m.body);
  const tokenOf = (m: IMessage) => m.headers['resume-token'];

  async function online(user: string): Promise<TestClient> {
    return track(await wsClient(server, { login: user }));
  }

  it('stamps every user-destination MESSAGE with a resume-token, the same in every session of the user', async () => {
    const alice = unique('alice');
    const tabs = await Promise.all([online(alice), online(alice)]);
    const subs = await Promise.all(tabs.map((t) => t.subscribe('/user/queue/notes')));
    await pushAll(alice, ['one', 'two']);
    const [a, b] = await Promise.all(subs.map((s) => s.messages.take(2)));
    expect(a.map(tokenOf).every((t) => typeof t === 'string' && t !== '')).to.equal(true);
    expect(a.map(tokenOf)).to.deep.equal(b.map(tokenOf));
    expect(tokenOf(a[0])).to.not.equal(tokenOf(a[1]));
  });

  it('replays what was pushed while away, in order and before the RECEIPT, then continues live with no duplicate', async () => {
    const alice = unique('alice');
    const first = await online(alice);
    const sub = await first.subscribe('/user/queue/notes');
    await pushAll(alice, ['m1', 'm2']);
    const seen = await sub.messages.take(2);
    await first.close();

    await pushAll(alice, ['m3', 'm4', 'm5']); // alice is away

    const again = await online(alice);
    const resumed = await again.subscribe('/user/queue/notes', { 'resume-from': tokenOf(seen[1]) });
    // The kit's subscribe resolved on the RECEIPT: the replay is already in the inbox.
    expect(bodies(resumed.messages.all)).to.deep.equal(['m3', 'm4', 'm5']);
    expect(resumed.messages.all.some((m) => m.headers['resume-gap'] !== undefined)).to.equal(false);
    for (const m of resumed.messages.all) expect(m.headers.destination).to.equal('/user/queue/notes');
    await pushAll(alice, ['m6']);
    const live = await resumed.messages.take(4);
    expect(bodies(live)).to.deep.equal(['m3', 'm4', 'm5', 'm6']);
    expect(resumed.messages.pending).to.equal(0);
  });

  it('puts the history position on the RECEIPT of a user-destination SUBSCRIBE, so a client with no message yet can resume', async () => {
    const alice = unique('alice');
    const raw = track(await RawStomp.open(server.wsUrl));
    await raw.connect({ login: alice });
    raw.sendFrame('SUBSCRIBE', { id: 's1', destination: '/user/queue/notes', receipt: 'r1' });
    const receipt = await raw.expect('RECEIPT', 'RECEIPT of the SUBSCRIBE');
    const position = receipt.headers['resume-token'];
    expect(position, 'resume-token on the RECEIPT').to.be.a('string').and.not.equal('');
    await raw.close();
    await pushAll(alice, ['while-away-1', 'while-away-2']);
    const again = await online(alice);
    const resumed = await again.subscribe('/user/queue/notes', { 'resume-from': position });
    expect(bodies(resumed.messages.all)).to.deep.equal(['while-away-1', 'while-away-2']);
  });

  it('opens with an empty resume-gap:true MESSAGE for a forged token, then goes on live', async () => {
    const alice = unique('alice');
    const client = await online(alice);
    const sub = await client.subscribe('/user/queue/notes', { 'resume-from': 'forged-token' });
    const gap = await sub.messages.next('the gap marker');
    expect(gap.headers['resume-gap']).to.equal('true');
    expect(gap.body).to.equal('');
    expect(gap.headers.destination).to.equal('/user/queue/notes');
    expect(tokenOf(gap), 'a position to resume from next time').to.be.a('string');
    await pushAll(alice, ['after-gap']);
    const live = await sub.messages.next('live after the gap');
    expect(live.body).to.equal('after-gap');
    expect(live.headers['resume-gap']).to.equal(undefined);
  });

  it('reports a gap when more than RESUME_MAX_MESSAGES were missed, and replays the newest', async () => {
    const alice = unique('alice');
    const first = await online(alice);
    const sub = await first.subscribe('/user/queue/notes');
    await pushAll(alice, ['start']);
    const [start] = await sub.messages.take(1);
    await first.close();
    const missed = Array.from({ length: 23 }, (_, i) => `missed-${i}`);
    await pushAll(alice, missed);
    const again = await online(alice);
    const resumed = await again.subscribe('/user/queue/notes', { 'resume-from': tokenOf(start) });
    const [gap, ...replayed] = resumed.messages.all;
    expect(gap.headers['resume-gap']).to.equal('true');
    expect(bodies(replayed)).to.deep.equal(missed.slice(-20));
  });

  it('resumes two tabs of alice from their own points', async () => {
    const alice = unique('alice');
    const watcher = await online(alice);
    const sub = await watcher.subscribe('/user/queue/notes');
    await pushAll(alice, ['p1', 'p2', 'p3', 'p4']);
    const tokens = (await sub.messages.take(4)).map(tokenOf);
    const [tab1, tab2] = await Promise.all([online(alice), online(alice)]);
    const [r1, r2] = await Promise.all([
      tab1.subscribe('/user/queue/notes', { 'resume-from': tokens[0] }),
      tab2.subscribe('/user/queue/notes', { 'resume-from': tokens[2] }),
    ]);
    expect(bodies(r1.messages.all)).to.deep.equal(['p2', 'p3', 'p4']);
    expect(bodies(r2.messages.all)).to.deep.equal(['p4']);
  });

  it('gives bob nothing of alice\'s when he resumes with her token', async () => {
    const alice = unique('alice');
    const bob = unique('bob');
    const aliceClient = await online(alice);
    const aliceSub = await aliceClient.subscribe('/user/queue/notes');
    await pushAll(alice, ['a1']);
    const [a1] = await aliceSub.messages.take(1);
    await pushAll(alice, ['a2-secret']);
    await aliceSub.messages.take(1);
    const bobClient = await online(bob);
    const bobSub = await bobClient.subscribe('/user/queue/notes', { 'resume-from': tokenOf(a1) });
    await pushAll(bob, ['for-bob']);
    await bobSub.messages.next('bob\'s own message');
    for (const m of bobSub.messages.all) expect(m.body).to.not.match(/^a\d/);
  });

  it('records a client SEND to /user/{name}/... for resume, replacing a forged resume-token', async () => {
    const alice = unique('alice');
    const bob = unique('bob');
    const aliceClient = await online(alice);
    const sub = await aliceClient.subscribe('/user/queue/chat');
    const bobClient = await online(bob);
    await bobClient.publish(`/user/${alice}/queue/chat`, 'hi', { 'resume-token': 'forged', 'resume-gap': 'true' });
    const [hi] = await sub.messages.take(1);
    expect(tokenOf(hi)).to.be.a('string').and.not.equal('forged');
    expect(hi.headers['resume-gap']).to.equal(undefined);
    await aliceClient.close();
    await bobClient.publish(`/user/${alice}/queue/chat`, 'while away');
    const again = await online(alice);
    const resumed = await again.subscribe('/user/queue/chat', { 'resume-from': tokenOf(hi) });
    expect(bodies(resumed.messages.all)).to.deep.equal(['while away']);
  });

  it('refuses a push that sets resume-token or resume-gap itself (400)', async () => {
    for (const name of ['resume-token', 'Resume-Gap']) {
      const res = await push(server, unique('alice'), { destination: '/queue/notes', payload: 'x', headers: { [name]: 'x' } });
      expect(res.status, name).to.equal(400);
      expect(res.body.error.code).to.equal('BAD_REQUEST');
    }
  });

  it('ignores resume-from on a destination that is not a user destination', async () => {
    const client = await online(unique('carol'));
    const topic = `/topic/${unique('news')}`;
    const sub = await client.subscribe(topic, { 'resume-from': 'whatever' });
    await client.publish(topic, 'plain');
    const [m] = await sub.messages.take(1);
    expect(m.body).to.equal('plain');
    expect(m.headers['resume-gap']).to.equal(undefined);
  });

  describe('with RESUME_WINDOW_MS=0 (history off)', function () {
    let off: TestRelay;
    before(async () => { off = await startRelay({ resumeWindowMs: 0 }); });
    after(async () => { await off.close(); });

    it('sends no resume-token, and answers every resume with a gap', async () => {
      const alice = unique('alice');
      const client = track(await wsClient(off, { login: alice }));
      const sub = await client.subscribe('/user/queue/notes');
      expect((await push(off, alice, { destination: '/queue/notes', payload: 'x' })).status).to.equal(202);
      const [m] = await sub.messages.take(1);
      expect(tokenOf(m)).to.equal(undefined);
      const resumed = await client.subscribe('/user/queue/other', { 'resume-from': 'anything' });
      const gap = await resumed.messages.next('gap');
      expect(gap.headers['resume-gap']).to.equal('true');
    });
  });
});
