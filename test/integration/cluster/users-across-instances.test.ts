/**
 * Users on any instance: two relays on one real RabbitMQ node. A push on one instance reaches the
 * user's sessions on every instance and nobody else's.
 */
import { expect } from 'chai';
import { sharedRabbitNode, type RabbitNode } from '../../harness/rabbitmq';
import { connectClient, eventually, push, startInstance, uniqueName, type Instance, type TestClient } from './cluster-helpers';

describe('users across instances (RabbitMQ)', function () {
  this.timeout(60_000);
  let node: RabbitNode;
  let a: Instance;
  let b: Instance;
  const clients: TestClient[] = [];

  before(async () => {
    node = await sharedRabbitNode();
    a = await startInstance(node.brokerUrl, 'cluster-a');
    b = await startInstance(node.brokerUrl, 'cluster-b');
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.disconnect()));
  });

  after(async () => {
    await Promise.all([a?.relay.close(), b?.relay.close()]);
  });

  async function client(instance: Instance, login: string): Promise<TestClient> {
    const c = await connectClient(instance.ws, login);
    clients.push(c);
    return c;
  }

  it('delivers a push sent to instance B to every session of the user on A and B, and to nobody else', async () => {
    const alice = uniqueName('alice');
    const bob = uniqueName('bob');
    const aliceOnA = await (await client(a, alice)).subscribe('/user/queue/notifications');
    const aliceOnB = await (await client(b, alice)).subscribe('/user/queue/notifications');
    const bobOnA = await (await client(a, bob)).subscribe('/user/queue/notifications');

    const res = await push(b.http, alice, { destination: '/queue/notifications', payload: { text: 'for alice' }, headers: { kind: 'order' } });
    expect(res.status).to.equal(202);

    for (const inbox of [aliceOnA, aliceOnB]) {
      const [m] = await inbox.waitFor(1);
      expect(JSON.parse(m.body)).to.deep.equal({ text: 'for alice' });
      expect(m.headers.destination).to.equal('/user/queue/notifications');
      expect(m.headers.kind).to.equal('order');
      expect(m.headers['content-type']).to.equal('application/json');
    }
    // Sentinel: bob's own push arrives, and it is the only thing bob ever got.
    await push(a.http, bob, { destination: '/queue/notifications', payload: 'for bob' });
    await bobOnA.waitFor(1);
    expect(bobOnA.bodies()).to.deep.equal(['for bob']);
  });

  it('reports the user\'s sessions across the cluster in the push response and GET /users/:user', async () => {
    const carol = uniqueName('carol');
    await (await client(a, carol)).subscribe('/user/queue/x');
    await (await client(a, carol)).subscribe('/user/queue/x');
    await (await client(b, carol)).subscribe('/user/queue/x');
    const presence = await eventually('B to see carol on both instances', async () => {
      const res = await fetch(`${b.http}/users/${carol}`);
      const body = await res.json() as { sessions: number; instances: Array<{ instanceId: string; sessions: number }> };
      return body.sessions === 3 ? body : null;
    });
    expect(presence?.instances.sort((x, y) => x.instanceId.localeCompare(y.instanceId))).to.deep.equal([
      { instanceId: 'cluster-a', sessions: 2 },
      { instanceId: 'cluster-b', sessions: 1 },
    ]);
    const res = await push(b.http, carol, { destination: '/queue/x', payload: 1 });
    expect(res.json.sessions).to.equal(3);
  });

  it('answers 202 with zero sessions for a push to a user who is offline', async () => {
    const res = await push(a.http, uniqueName('nobody'), { destination: '/queue/x', payload: 'lost in space' });
    expect(res.status).to.equal(202);
    expect(res.json.sessions).to.equal(0);
  });

  it('delivers 1,000 concurrent pushes exactly once each', async () => {
    const dave = uniqueName('dave');
    const inbox = await (await client(a, dave)).subscribe('/user/queue/bulk');
    const n = 1000;
    const statuses = await Promise.all(Array.from({ length: n }, (_, i) =>
      push(b.http, dave, { destination: '/queue/bulk', payload: { i } }).then((r) => r.status)));
    expect(statuses.filter((s) => s !== 202)).to.deep.equal([]);
    await inbox.waitFor(n, 30_000);
    const seen = inbox.messages.map((m) => (JSON.parse(m.body) as { i: number }).i).sort((x, y) => x - y);
    expect(seen).to.deep.equal(Array.from({ length: n }, (_, i) => i));
    // Nothing more trickles in: a sentinel after the burst is the next message.
    await push(b.http, dave, { destination: '/queue/bulk', payload: { i: -1 } });
    await inbox.waitFor(n + 1);
    expect(inbox.messages).to.have.length(n + 1);
  });

  it('keeps users apart: a subscription to another user\'s destination is refused', async () => {
    const eve = await client(a, uniqueName('eve'));
    const victim = uniqueName('victim');
    eve.client.subscribe(`/user/${victim}/queue/notifications`, () => undefined);
    await eventually('an ERROR frame', () => eve.errors.length > 0);
    expect(eve.errors[0].headers.code).to.equal('ACCESS_DENIED');
  });

  it('relays a topic with custom headers from an instance to subscribers on both', async () => {
    const topic = `/topic/${uniqueName('news')}`;
    const onA = await (await client(a, 'sub-a')).subscribe(topic);
    const onB = await (await client(b, 'sub-b')).subscribe(topic);
    const publisher = await client(a, 'pub');
    await publisher.publish(topic, 'headline', { 'x-edition': 'morning', 'content-type': 'text/plain' });
    for (const inbox of [onA, onB]) {
      const [m] = await inbox.waitFor(1);
      expect(m.body).to.equal('headline');
      expect(m.headers['x-edition']).to.equal('morning');
      expect(m.headers['content-type']).to.equal('text/plain');
      expect(m.headers.destination).to.equal(topic);
    }
  });

  it('shares a queue between consumers on two instances: every message delivered once', async () => {
    const queue = `/queue/${uniqueName('work')}`;
    // A plain /queue destination: RabbitMQ declares it durable on first use (the test node is private).
    const onA = await (await client(a, 'worker-a')).subscribe(queue, { 'prefetch-count': '5' });
    const onB = await (await client(b, 'worker-b')).subscribe(queue, { 'prefetch-count': '5' });
    const producer = await client(a, 'producer');
    const n = 200;
    for (let i = 0; i < n; i++) await producer.publish(queue, String(i));
    await eventually('all messages consumed', () => onA.messages.length + onB.messages.length >= n);
    const all = [...onA.bodies(), ...onB.bodies()].map(Number).sort((x, y) => x - y);
    expect(all).to.deep.equal(Array.from({ length: n }, (_, i) => i));
    expect(onA.messages.length).to.be.greaterThan(0);
    expect(onB.messages.length).to.be.greaterThan(0);
  });

  it('leaves no queues behind in RabbitMQ once sessions end', async () => {
    const baseline = (await node.listQueues()).length;
    const temp: TestClient[] = [];
    for (let i = 0; i < 10; i++) {
      const c = await connectClient((i % 2 ? a : b).ws, uniqueName('temp'));
      temp.push(c);
      await c.subscribe('/user/queue/notifications');
      await c.subscribe('/user/topic/greetings');
      await c.subscribe(`/topic/${uniqueName('t')}`);
    }
    expect((await node.listQueues()).length).to.be.greaterThan(baseline);
    await Promise.all(temp.map((c) => c.disconnect()));
    await eventually('queue count back to its baseline', async () => (await node.listQueues()).length === baseline, 15_000, 200);
  });
});
