/**
 * The HTTP API for backends across two relay instances on one real RabbitMQ node: a request to
 * either instance acts on users of both (push to many, publish, the user list, ending a user's
 * sessions everywhere through the control key on the route queues).
 */
import { expect } from 'chai';
import { sharedRabbitNode, type RabbitNode } from '../../harness/rabbitmq';
import { RawStomp, api, closeAll, unique, waitFor, wsClient, type TestClient, type TestRelay as Instance } from '../../harness/stomp-test-kit';
import { presenceOf, startInstance } from './cluster-helpers';

describe('HTTP API across instances (RabbitMQ)', function () {
  this.timeout(60_000);
  let node: RabbitNode;
  let a: Instance;
  let b: Instance;
  const open: Array<TestClient | RawStomp> = [];

  before(async () => {
    node = await sharedRabbitNode();
    a = await startInstance(node.relayOptions, 'api-a');
    b = await startInstance(node.relayOptions, 'api-b');
  });

  afterEach(async () => { await closeAll(open.splice(0)); });
  after(async () => { await Promise.all([a?.close(), b?.close()]); });

  async function client(instance: Instance, login: string): Promise<TestClient> {
    const c = await wsClient(instance, { login });
    open.push(c);
    return c;
  }

  async function raw(instance: Instance, login: string): Promise<RawStomp> {
    const r = await RawStomp.open(instance.wsUrl);
    open.push(r);
    await r.connect({ login });
    return r;
  }

  it('DELETE /users/:user/sessions on B ends the user\'s sessions on A and B with SESSION_REVOKED; others carry on', async () => {
    const alice = unique('alice');
    const bob = unique('bob');
    const aliceOnA = await raw(a, alice);
    const aliceOnB = await raw(b, alice);
    const bobOnA = await client(a, bob);
    const bobInbox = (await bobOnA.subscribe('/user/queue/after')).messages;
    await waitFor(async () => (await presenceOf(b, alice)).sessions === 2, 'B to see both of alice\'s sessions');

    const res = await api(b, 'DELETE', `/users/${alice}/sessions`, { reason: 'account suspended' });
    expect(res.status, res.text).to.equal(202);
    expect(res.body.sessions).to.equal(2);

    for (const [where, session] of [['A', aliceOnA], ['B', aliceOnB]] as const) {
      const error = await session.nextError();
      expect(error.headers.code, where).to.equal('SESSION_REVOKED');
      expect(error.headers.message, where).to.equal('session ended by the server: account suspended');
      await session.waitClosed();
    }
    expect((await api(a, 'POST', `/push/${bob}`, { destination: '/queue/after', payload: 'bob is fine' })).status).to.equal(202);
    expect((await bobInbox.next('bob\'s push')).body).to.equal('bob is fine');
  });

  it('POST /push on B reaches users on A and B, and tells who was offline', async () => {
    const carol = unique('carol');
    const dave = unique('dave');
    const nobody = unique('nobody');
    const carolInbox = (await (await client(a, carol)).subscribe('/user/queue/digest')).messages;
    const daveInbox = (await (await client(b, dave)).subscribe('/user/queue/digest')).messages;
    const res = await api(b, 'POST', '/push', { users: [carol, dave, nobody], destination: '/queue/digest', payload: 'weekly digest' });
    expect(res.status, res.text).to.equal(202);
    expect(res.body).to.deep.include({ routed: 2, offline: 1, failed: 0 });
    expect((await carolInbox.next('carol\'s digest')).body).to.equal('weekly digest');
    expect((await daveInbox.next('dave\'s digest')).body).to.equal('weekly digest');
  });

  it('POST /publish on A reaches a topic subscriber on B', async () => {
    const topic = `/topic/${unique('news')}`;
    const onB = (await (await client(b, unique('reader'))).subscribe(topic)).messages;
    const res = await api(a, 'POST', '/publish', { destination: topic, payload: { headline: 'hello cluster' } });
    expect(res.status, res.text).to.equal(202);
    expect(JSON.parse((await onB.next('the published message')).body)).to.deep.equal({ headline: 'hello cluster' });
  });

  it('GET /instance on either counts both instances (what the demo page reads)', async () => {
    for (const instance of [a, b]) {
      await waitFor(async () => (await api(instance, 'GET', '/instance')).body.instances === 2, 'presence to know both instances');
      expect((await api(instance, 'GET', '/instance')).body.broker).to.equal('rabbitmq');
    }
  });

  it('GET /users on A lists the users of both instances, with sessions per instance', async () => {
    const prefix = unique('listed');
    const [erin, frank] = [`${prefix}-erin`, `${prefix}-frank`];
    await client(a, erin);
    await client(b, erin);
    await client(b, frank);
    const mine = async () => {
      const res = await api(a, 'GET', '/users?limit=1000');
      return (res.body.users as Array<{ user: string; sessions: number; instances: Array<{ instanceId: string }> }>).filter((u) => u.user.startsWith(prefix));
    };
    await waitFor(async () => (await mine()).length === 2 && (await mine())[0].sessions === 2, 'A\'s presence to list erin (2) and frank');
    const users = await mine();
    expect(users.map((u) => [u.user, u.sessions, u.instances.map((i) => i.instanceId).sort()])).to.deep.equal([
      [erin, 2, ['api-a', 'api-b']],
      [frank, 1, ['api-b']],
    ]);
  });
});
