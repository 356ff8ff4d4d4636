/**
 * The relay against a RabbitMQ that goes away and comes back, one that is not there at start-up,
 * and a peer instance killed with SIGKILL. Each test uses its own private node, since it stops it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { expect } from 'chai';
import { RabbitMqBroker } from '../../../server/broker/rabbitmq';
import { headers } from '../../../server/codec/frame';
import { parseAmqpUrls, parseBrokerUrl } from '../../../server/config';
import { REGISTRY_DESTINATION } from '../../../server/user/user-destinations';
import { RecordingSink } from '../../broker-suite/recording-sink';
import { createRabbitNode, startRabbitNode, type RabbitNode } from '../../harness/rabbitmq';
import { closeAll, push, unique as uniqueName, waitFor, wsClient, connect, wsFactory, type TestClient, type TestRelay as Instance } from '../../harness/stomp-test-kit';
import { presenceOf, readyStatus, startInstance } from './cluster-helpers';

const root = join(__dirname, '..', '..', '..');
/** PRESENCE_INTERVAL_MS of the instance that outlives a killed peer (long enough for a request between two). */
const SURVIVOR_INTERVAL_MS = 400;

describe('broker outages (RabbitMQ)', function () {
  this.timeout(90_000);
  let node: RabbitNode | undefined;
  const instances: Instance[] = [];
  const clients: TestClient[] = [];
  const observers: RabbitMqBroker[] = [];

  afterEach(async () => {
    await Promise.all(observers.splice(0).map((o) => o.stop()));
    await closeAll(clients.splice(0));
    await Promise.all(instances.splice(0).map((i) => i.close()));
    await node?.stop();
    node = undefined;
  });

  it('keeps clients connected through a broker restart and delivers to their subscriptions again', async () => {
    node = await startRabbitNode();
    const a = await startInstance(node.relayOptions, 'outage-a');
    const b = await startInstance(node.relayOptions, 'outage-b');
    instances.push(a, b);
    const subscriber = await wsClient(a, { login: 'sub', heartbeatIncoming: 0, heartbeatOutgoing: 0 });
    const publisher = await wsClient(b, { login: 'pub' });
    const frank = await wsClient(a, { login: 'frank', heartbeatIncoming: 0, heartbeatOutgoing: 0 });
    clients.push(subscriber, publisher, frank);
    let socketsClosed = 0;
    for (const c of [subscriber, frank]) void c.closed.then(() => { socketsClosed += 1; });
    const topic = `/topic/${uniqueName('outage')}`;
    const inbox = (await subscriber.subscribe(topic)).messages;
    const personal = (await frank.subscribe('/user/queue/notifications')).messages;
    await publisher.publish(topic, 'before');
    await inbox.next('the message published before the outage');

    await node.stopApp();
    await waitFor(async () => (await readyStatus(a)) === 503, '/readyz to report not ready', 15_000);
    const refused = await push(b, 'frank', { destination: '/queue/notifications', payload: 'while down' });
    expect(refused.status).to.equal(503);
    expect(refused.body.error.code).to.equal('BROKER_UNAVAILABLE');

    await node.startApp();
    await waitFor(async () => (await readyStatus(a)) === 200 && (await readyStatus(b)) === 200, '/readyz to report ready again', 30_000);
    // The clients never reconnected: the relay restored their subscriptions by itself. Publishing
    // until one arrives: restoration completes shortly after readiness, and topics are at-most-once.
    await waitFor(async () => {
      await publisher.publish(topic, 'after');
      return inbox.all.some((m) => m.body === 'after');
    }, 'the restored subscription to receive', 15_000);
    await waitFor(async () => {
      await push(b, 'frank', { destination: '/queue/notifications', payload: 'after' });
      return personal.all.some((m) => m.body === 'after');
    }, 'a push to reach the restored user subscription', 15_000);
    expect(socketsClosed).to.equal(0);
    expect(personal.all.map((m) => m.body)).to.not.include('while down');
  });

  it('starts without a broker, reports not ready, and serves clients once RabbitMQ comes up', async () => {
    node = await createRabbitNode();
    const a = await startInstance(node.relayOptions, 'late-a');
    instances.push(a);
    expect(await readyStatus(a)).to.equal(503);
    expect((await fetch(`${a.http}/healthz`)).status).to.equal(200);
    await node.start();
    await waitFor(async () => (await readyStatus(a)) === 200, '/readyz to report ready', 30_000);
    const c = await wsClient(a, { login: 'late' });
    clients.push(c);
    const hello = (await c.subscribe('/user/queue/hello')).messages;
    expect((await push(a, 'late', { destination: '/queue/hello', payload: 'hi' })).status).to.equal(202);
    expect((await hello.next('the push')).body).to.equal('hi');
  });

  it('forgets the users of an instance killed with SIGKILL within three presence intervals', async function () {
    const cli = join(root, 'dist', 'server', 'cli.js');
    if (!existsSync(cli)) throw new Error('dist/server/cli.js is missing: run `npm run build` first (test/run-all.sh does)');
    node = await startRabbitNode();
    const a = await startInstance(node.relayOptions, 'survivor', { presenceIntervalMs: SURVIVOR_INTERVAL_MS });
    instances.push(a);
    // The survivor's own snapshots, read off the registry, are its intervals: the bound is counted
    // in them, not in wall time, so a loaded machine (late timers, slow requests) cannot break it.
    const observer = new RabbitMqBroker({ endpoint: parseBrokerUrl(node.brokerUrl), routes: { endpoints: parseAmqpUrls(node.amqpUrl) }, poolSize: 1, heartbeatMs: 0 });
    await observer.start();
    observers.push(observer);
    const registry = new RecordingSink('registry');
    const survivorIntervals = new RecordingSink('snapshots of the survivor');
    registry.onDeliver = (d) => {
      if ((JSON.parse(d.message.body.toString('utf8')) as { instanceId: string }).instanceId === 'survivor') survivorIntervals.deliver(d);
    };
    await observer.subscribe({ destination: REGISTRY_DESTINATION, ack: 'auto', headers: headers() }, registry);
    const port = await freePort();
    const child: ChildProcess = spawn(process.execPath, [cli], {
      env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', ...node.relayEnv, INSTANCE_ID: 'doomed', PRESENCE_INTERVAL_MS: '200', LOG_LEVEL: 'warn' },
      stdio: 'ignore',
    });
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 'the child instance to be ready', 30_000);
      const grace = await connect(wsFactory(`ws://127.0.0.1:${port}/ws`), { login: 'grace' });
      clients.push(grace);
      await grace.subscribe('/user/queue/x');
      await waitFor(async () => (await presenceOf(a, 'grace')).sessions === 1, 'the survivor to see grace');
      child.kill('SIGKILL');
      await once(child, 'exit');
      // Forgotten after 3 silent intervals of the survivor. Setinterval never fires early, so its
      // 5th snapshot after the kill comes at least 4 intervals later: 3, one for the phase of the
      // interval running at the kill, and one for a snapshot of the doomed still in flight then.
      const atKill = survivorIntervals.deliveries.length;
      let forgottenAfter: number | undefined;
      for (let n = 1; n <= 5 && forgottenAfter === undefined; n++) {
        await survivorIntervals.waitFor(atKill + n, 20 * SURVIVOR_INTERVAL_MS);
        if ((await presenceOf(a, 'grace')).sessions === 0) forgottenAfter = n;
      }
      expect(forgottenAfter, 'the survivor still knew grace 5 of its intervals after the kill').to.not.equal(undefined);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
