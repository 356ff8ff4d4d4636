/**
 * "Accepted means delivered" for user destinations on real RabbitMQ: routes that survive a broker
 * restart by themselves, a half-dead AMQP link on the target instance, and the answers a push gets
 * when it cannot be delivered. Each test that stops the broker uses its own private node.
 */
import { expect } from 'chai';
import { parseAmqpUrls } from '../../../server/config';
import { startRabbitNode, sharedRabbitNode, type RabbitNode } from '../../harness/rabbitmq';
import { TcpProxy } from '../../harness/tcp-proxy';
import { closeAll, push, unique as uniqueName, waitFor, wsClient, type TestClient, type TestRelay as Instance } from '../../harness/stomp-test-kit';
import { readyStatus, startInstance } from './cluster-helpers';

describe('user delivery: accepted means delivered (RabbitMQ)', function () {
  this.timeout(120_000);
  const instances: Instance[] = [];
  const clients: TestClient[] = [];
  let privateNode: RabbitNode | undefined;
  let proxy: TcpProxy | undefined;

  afterEach(async () => {
    proxy?.resume();
    await closeAll(clients.splice(0));
    await Promise.all(instances.splice(0).map((i) => i.close()));
    await proxy?.close();
    proxy = undefined;
    await privateNode?.stop();
    privateNode = undefined;
  });

  it('keeps user routes through a broker restart: every push sent once /readyz is 200 again arrives', async () => {
    privateNode = await startRabbitNode();
    const node = privateNode;
    const a = await startInstance(node.relayOptions, 'restart-a');
    const b = await startInstance(node.relayOptions, 'restart-b');
    instances.push(a, b);
    const users = Array.from({ length: 200 }, (_, i) => uniqueName(`u${i}`));
    const inboxes = new Map<string, { all: Array<{ body: string }> }>();
    await runConcurrently(users.map((user) => async () => {
      const c = await wsClient(a, { login: user, heartbeatIncoming: 0, heartbeatOutgoing: 0 });
      clients.push(c);
      inboxes.set(user, (await c.subscribe('/user/queue/n')).messages);
    }), 16);
    const queuesBefore = await node.listQueues();
    const routeQueue = queuesBefore.find((q) => q.name.startsWith('stomp-relay.routes.restart-a.'));
    expect(routeQueue, 'instance A has one route queue').to.not.equal(undefined);

    await node.stopApp();
    await waitFor(async () => (await readyStatus(a)) === 503, '/readyz 503 while RabbitMQ is down', 20_000);
    await node.startApp();
    await waitFor(async () => (await readyStatus(a)) === 200 && (await readyStatus(b)) === 200, '/readyz 200 again', 30_000);

    // At once, in reverse order (the last users restored last, if anything were restored).
    const statuses = await runConcurrently([...users].reverse().map((user) => async () =>
      (await push(b, user, { destination: '/queue/n', payload: `after-${user}` })).status), 32);
    expect(statuses.filter((s) => s !== 202)).to.deep.equal([]);
    await waitFor(() => users.every((u) => inboxes.get(u)!.all.some((m) => m.body === `after-${u}`)),
      'every user to receive the push sent after the restart', 30_000);
    // The same durable queue, its bindings intact: nothing was re-declared.
    const after = (await node.listQueues()).filter((q) => q.name.startsWith('stomp-relay.routes.restart-a.'));
    expect(after.map((q) => q.name)).to.deep.equal([routeQueue!.name]);
    for (const user of users) expect(inboxes.get(user)!.all.filter((m) => m.body === `after-${user}`).length, user).to.equal(1);
  });

  it('delivers a push accepted while the target instance\'s AMQP link is half-dead, once heart-beats find it', async () => {
    const node = await sharedRabbitNode();
    proxy = await TcpProxy.start({ host: '127.0.0.1', port: node.ports.amqp });
    const viaProxy = `amqp://guest:guest@127.0.0.1:${proxy.port}/`;
    parseAmqpUrls(viaProxy);
    const a = await startInstance({ brokerUrl: node.brokerUrl, brokerAmqpUrl: viaProxy }, uniqueName('halfdead-a'), { brokerHeartbeatMs: 1000 });
    const b = await startInstance(node.relayOptions, uniqueName('halfdead-b'));
    instances.push(a, b);
    const alice = uniqueName('alice');
    const c = await wsClient(a, { login: alice, heartbeatIncoming: 0, heartbeatOutgoing: 0 });
    clients.push(c);
    const inbox = (await c.subscribe('/user/queue/n')).messages;
    await waitFor(async () => (await push(b, alice, { destination: '/queue/n', payload: 'warm-up' })).body.sessions === 1, 'presence on B', 10_000);

    proxy.pause();
    const res = await push(b, alice, { destination: '/queue/n', payload: 'across a half-dead link' });
    // Routed into A's durable route queue: accepted, and it waits there.
    expect(res.status).to.equal(202);
    expect(res.body.routed).to.equal(true);
    // A notices (heart-beats), says not ready, and reconnects once the path is back.
    await waitFor(async () => (await readyStatus(a)) === 503, 'A to find its AMQP link dead', 20_000);
    proxy.resume();
    await waitFor(() => inbox.all.some((m) => m.body === 'across a half-dead link'), 'the push accepted during the half-dead link', 30_000);
    expect(inbox.all.filter((m) => m.body === 'across a half-dead link').length).to.equal(1);
  });

  it('binds every route again on a new queue when its route queue is lost (deleted, or its cluster node died)', async () => {
    const node = await sharedRabbitNode();
    const id = uniqueName('lost-queue');
    const a = await startInstance(node.relayOptions, id);
    instances.push(a);
    const users = Array.from({ length: 50 }, (_, i) => uniqueName(`lq${i}`));
    const inboxes = new Map<string, { all: Array<{ body: string }> }>();
    for (const user of users) {
      const c = await wsClient(a, { login: user, heartbeatIncoming: 0, heartbeatOutgoing: 0 });
      clients.push(c);
      inboxes.set(user, (await c.subscribe('/user/queue/n')).messages);
    }
    const routeQueues = async () => (await node.listQueues()).filter((q) => q.name.startsWith(`stomp-relay.routes.${id}.`)).map((q) => q.name);
    const [first] = await routeQueues();
    await node.ctl(['delete_queue', first]);
    await waitFor(async () => { const now = await routeQueues(); return now.length === 1 && now[0] !== first; }, 'a new route queue', 20_000);
    await waitFor(async () => (await readyStatus(a)) === 200, '/readyz 200 once every route is bound again', 20_000);
    const statuses = await runConcurrently(users.map((user) => async () => (await push(a, user, { destination: '/queue/n', payload: `again-${user}` })).status), 16);
    expect(statuses.filter((st) => st !== 202)).to.deep.equal([]);
    await waitFor(() => users.every((u) => inboxes.get(u)!.all.some((m) => m.body === `again-${u}`)), 'every user to receive again', 20_000);
  });

  it('answers a push to an offline user 202 with routed:false, and to an online user nobody took 503 NOT_DELIVERED', async () => {
    const node = await sharedRabbitNode();
    const a = await startInstance(node.relayOptions, uniqueName('answers-a'), { userRouteWaitMs: 300 });
    instances.push(a);
    const offline = await push(a, uniqueName('nobody'), { destination: '/queue/n', payload: 'x' });
    expect(offline.status).to.equal(202);
    expect(offline.body).to.include({ routed: false, sessions: 0 });

    // Online, but subscribed to another destination only.
    const bob = uniqueName('bob');
    const c = await wsClient(a, { login: bob });
    clients.push(c);
    await c.subscribe('/user/queue/other');
    const res = await push(a, bob, { destination: '/queue/n', payload: 'x' });
    expect(res.status).to.equal(503);
    expect(res.body.error.code).to.equal('NOT_DELIVERED');
    expect(res.body.error.message).to.match(/none took \/queue\/n within 300 ms/);

    const ok = await push(a, bob, { destination: '/queue/other', payload: 'y' });
    expect(ok.status).to.equal(202);
    expect(ok.body.routed).to.equal(true);
  });
});

/** Runs `tasks` with at most `limit` in flight; results in task order. */
async function runConcurrently<T>(tasks: Array<() => Promise<T>>, limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}
