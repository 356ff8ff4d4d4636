/**
 * Users on any instance: two relays on one real RabbitMQ node. A push on one instance reaches the
 * user's sessions on every instance and nobody else's.
 */
import { expect } from 'chai';
import { sharedRabbitNode, type RabbitNode } from '../../harness/rabbitmq';
import { closeAll, push, unique as uniqueName, waitFor, wsClient, type TestClient, type TestRelay as Instance } from '../../harness/stomp-test-kit';
import { presenceOf, startInstance } from './cluster-helpers';

describe('users across instances (RabbitMQ)', function () {
  this.timeout(60_000);
  let node: RabbitNode;
  let a: Instance;
  let b: Instance;
  const clients: TestClient[] = [];

  before(async () => {
    node = await sharedRabbitNode();
    a = await startInstance(node.relayOptions, 'cluster-a');
    b = await startInstance(node.relayOptions, 'cluster-b');
  });

  afterEach(async () => {
    await closeAll(clients.splice(0));
  });

  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  /** Subscribes and returns the subscription's messages. */
  async function inbox(c: TestClient, destination: string, headers = {}) {
    return (await c.subscribe(destination, headers)).messages;
  }

  async function client(instance: Instance, login: string): Promise<TestClient> {
    const c = await wsClient(instance, { login });
    clients.push(c);
    return c;
  }

  it('reaches an anonymous session on A from B with sendToSession(null, its session id), and says routed: false for no such session', async () => {
    const anonymous = await wsClient(a);
    clients.push(anonymous);
    const messages = await inbox(anonymous, '/user/queue/notifications');
    const sessionId = anonymous.connected.headers.session;
    expect(await b.relay.sendToSession(null, sessionId, '/queue/notifications', 'for the anonymous session')).to.deep.equal({ destination: '/queue/notifications', routed: true });
    expect((await messages.next('the push to the anonymous session')).body).to.equal('for the anonymous session');
    expect(await b.relay.sendToSession(null, uniqueName('gone'), '/queue/notifications', 'x')).to.deep.equal({ destination: '/queue/notifications', routed: false });
  });

  it('delivers a push sent to instance B to every session of the user on A and B, and to nobody else', async () => {
    const alice = uniqueName('alice');
    const bob = uniqueName('bob');
    const aliceOnA = await inbox(await client(a, alice), '/user/queue/notifications');
    const aliceOnB = await inbox(await client(b, alice), '/user/queue/notifications');
    const bobOnA = await inbox(await client(a, bob), '/user/queue/notifications');

    const res = await push(b, alice, { destination: '/queue/notifications', payload: { text: 'for alice' }, headers: { kind: 'order' } });
    expect(res.status).to.equal(202);

    for (const messages of [aliceOnA, aliceOnB]) {
      const m = await messages.next('alice\'s push');
      expect(JSON.parse(m.body)).to.deep.equal({ text: 'for alice' });
      expect(m.headers.destination).to.equal('/user/queue/notifications');
      expect(m.headers.kind).to.equal('order');
      expect(m.headers['content-type']).to.equal('application/json');
    }
    // Sentinel: bob's own push arrives, and it is the only thing bob ever got.
    await push(a, bob, { destination: '/queue/notifications', payload: 'for bob' });
    await bobOnA.next('bob\'s push');
    expect(bobOnA.all.map((m) => m.body)).to.deep.equal(['for bob']);
  });

  it('carries the sender\'s name in x-relay-sender through RabbitMQ to receivers on another instance; a forged one is replaced', async () => {
    const alice = uniqueName('alice');
    const bob = uniqueName('bob');
    const topic = `/topic/${uniqueName('room')}`;
    const bobClient = await client(b, bob);
    const room = await inbox(bobClient, topic);
    const bobsInbox = await inbox(bobClient, '/user/queue/dm');
    const mallory = await client(a, alice);
    await mallory.publish(topic, 'to the room', { 'x-relay-sender': 'the-ceo', 'X-Relay-Sender': 'the-ceo' });
    await mallory.publish(`/user/${bob}/queue/dm`, 'to bob', { 'x-relay-sender': 'the-ceo' });
    for (const m of [await room.next('the topic message on B'), await bobsInbox.next('the private message on B')]) {
      expect(m.headers['x-relay-sender'], m.body).to.equal(alice);
      expect(Object.keys(m.headers).filter((h) => h.toLowerCase() === 'x-relay-sender')).to.deep.equal(['x-relay-sender']);
    }
    // A push through the HTTP API on A names no sender.
    await push(a, bob, { destination: '/queue/dm', payload: 'from the backend' });
    expect((await bobsInbox.next('the push on B')).headers['x-relay-sender']).to.equal(undefined);
  });

  it('reports the user\'s sessions across the cluster in the push response and GET /users/:user', async () => {
    const carol = uniqueName('carol');
    await inbox(await client(a, carol), '/user/queue/x');
    await inbox(await client(a, carol), '/user/queue/x');
    await inbox(await client(b, carol), '/user/queue/x');
    await waitFor(async () => (await presenceOf(b, carol)).sessions === 3, 'B to see carol on both instances');
    const presence = await presenceOf(b, carol);
    expect(presence.instances.sort((x, y) => x.instanceId.localeCompare(y.instanceId))).to.deep.equal([
      { instanceId: 'cluster-a', sessions: 2 },
      { instanceId: 'cluster-b', sessions: 1 },
    ]);
    const res = await push(b, carol, { destination: '/queue/x', payload: 1 });
    expect(res.body.sessions).to.equal(3);
  });

  it('answers 202 with zero sessions for a push to a user who is offline', async () => {
    const res = await push(a, uniqueName('nobody'), { destination: '/queue/x', payload: 'lost in space' });
    expect(res.status).to.equal(202);
    expect(res.body.sessions).to.equal(0);
  });

  it('delivers 1,000 concurrent pushes exactly once each', async function () {
    // Bounded by progress, not by the burst's wall time (which grows with the machine's load): it
    // fails when no push is answered, or no message arrives, for 30 s.
    this.timeout(600_000);
    const dave = uniqueName('dave');
    const bulk = await inbox(await client(a, dave), '/user/queue/bulk');
    const n = 1000;
    const statuses = await settleWhileProgressing(Array.from({ length: n }, (_, i) =>
      push(b, dave, { destination: '/queue/bulk', payload: { i } }, { ms: 540_000 }).then((r) => r.status)), `${n} pushes`, 30_000);
    expect(statuses.filter((s) => s !== 202)).to.deep.equal([]);
    const got = await bulk.take(n, `${n} pushes`, 30_000);
    const seen = got.map((m) => (JSON.parse(m.body) as { i: number }).i).sort((x, y) => x - y);
    expect(seen).to.deep.equal(Array.from({ length: n }, (_, i) => i));
    // Nothing more trickles in: a sentinel after the burst is the next message.
    await push(b, dave, { destination: '/queue/bulk', payload: { i: -1 } });
    expect(JSON.parse((await bulk.next('the sentinel')).body)).to.deep.equal({ i: -1 });
    expect(bulk.pending).to.equal(0);
  });

  it('keeps users apart: a subscription to another user\'s destination is refused', async () => {
    const eve = await client(a, uniqueName('eve'));
    const victim = uniqueName('victim');
    eve.client.subscribe(`/user/${victim}/queue/notifications`, () => undefined);
    expect((await eve.errors.next('an ERROR frame')).headers.code).to.equal('ACCESS_DENIED');
  });

  it('relays a topic with custom headers from an instance to subscribers on both', async () => {
    const topic = `/topic/${uniqueName('news')}`;
    const onA = await inbox(await client(a, 'sub-a'), topic);
    const onB = await inbox(await client(b, 'sub-b'), topic);
    const publisher = await client(a, 'pub');
    await publisher.publish(topic, 'headline', { 'x-edition': 'morning', 'content-type': 'text/plain' });
    for (const messages of [onA, onB]) {
      const m = await messages.next('the headline');
      expect(m.body).to.equal('headline');
      expect(m.headers['x-edition']).to.equal('morning');
      expect(m.headers['content-type']).to.equal('text/plain');
      expect(m.headers.destination).to.equal(topic);
    }
  });

  it('shares a queue between consumers on two instances: every message delivered once', async () => {
    const queue = `/queue/${uniqueName('work')}`;
    // A plain /queue destination: RabbitMQ declares it durable on first use (the test node is private).
    const onA = await inbox(await client(a, 'worker-a'), queue, { 'prefetch-count': '5' });
    const onB = await inbox(await client(b, 'worker-b'), queue, { 'prefetch-count': '5' });
    const producer = await client(a, 'producer');
    const n = 200;
    for (let i = 0; i < n; i++) await producer.publish(queue, String(i));
    await waitFor(() => onA.all.length + onB.all.length >= n, 'all messages consumed', 10_000);
    const all = [...onA.all, ...onB.all].map((m) => Number(m.body)).sort((x, y) => x - y);
    expect(all).to.deep.equal(Array.from({ length: n }, (_, i) => i));
    expect(onA.all.length).to.be.greaterThan(0);
    expect(onB.all.length).to.be.greaterThan(0);
  });

  it('costs RabbitMQ no queue per user: one binding per (user, destination) and topic, gone once sessions end', async () => {
    // Names, not a count: route queues of earlier tests' instances expire meanwhile (x-expires).
    const queuesBefore = new Set((await node.listQueues()).map((q) => q.name));
    const newQueues = async () => (await node.listQueues()).filter((q) => !queuesBefore.has(q.name)).map((q) => q.name);
    const temp: TestClient[] = [];
    const users: string[] = [];
    for (let i = 0; i < 10; i++) {
      const user = uniqueName('temp');
      users.push(user);
      const c = await wsClient(i % 2 ? a : b, { login: user });
      temp.push(c);
      await c.subscribe('/user/queue/notifications');
      await c.subscribe('/user/topic/greetings');
      await c.subscribe(`/topic/${uniqueName('t')}`);
    }
    expect(await newQueues()).to.deep.equal([]);
    const userBindings = async () => (await node.listBindings()).filter((b) => users.some((u) => b.routingKey.includes(u)));
    const bound = await userBindings();
    expect(bound.length).to.equal(20);
    expect(bound.every((b) => b.exchange === 'amq.direct' && b.queue.startsWith('stomp-relay.routes.cluster-'))).to.equal(true);
    await closeAll(temp);
    await waitFor(async () => (await userBindings()).length === 0, 'user bindings removed', 15_000);
    expect(await newQueues()).to.deep.equal([]);
  });
});

/**
 * Promise.all that rejects when none of `promises` settled for `idleMs` (naming how many did), so
 * a slow machine only makes a burst longer while a stuck one still fails.
 */
async function settleWhileProgressing<T>(promises: Promise<T>[], what: string, idleMs: number): Promise<T[]> {
  let settled = 0;
  let stall: NodeJS.Timeout | undefined;
  let rejectStall!: (err: Error) => void;
  const stalled = new Promise<never>((_, reject) => { rejectStall = reject; });
  const arm = (): void => {
    clearTimeout(stall);
    stall = setTimeout(() => rejectStall(new Error(`${what}: none settled for ${idleMs} ms (${settled} of ${promises.length} done)`)), idleMs);
  };
  arm();
  for (const p of promises) void p.then(() => { settled += 1; arm(); }, () => undefined);
  try {
    return await Promise.race([Promise.all(promises), stalled]);
  } finally {
    clearTimeout(stall);
  }
}
