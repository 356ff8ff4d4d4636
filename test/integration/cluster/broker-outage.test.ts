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
import { createRabbitNode, startRabbitNode, type RabbitNode } from '../../harness/rabbitmq';
import { connectClient, eventually, push, startInstance, uniqueName, type Instance, type TestClient } from './cluster-helpers';

const root = join(__dirname, '..', '..', '..');

async function readyStatus(instance: Instance): Promise<number> {
  return (await fetch(`${instance.http}/readyz`)).status;
}

describe('broker outages (RabbitMQ)', function () {
  this.timeout(90_000);
  let node: RabbitNode | undefined;
  const instances: Instance[] = [];
  const clients: TestClient[] = [];

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.disconnect().catch(() => undefined)));
    await Promise.all(instances.splice(0).map((i) => i.relay.close()));
    await node?.stop();
    node = undefined;
  });

  it('keeps clients connected through a broker restart and delivers to their subscriptions again', async () => {
    node = await startRabbitNode();
    const a = await startInstance(node.brokerUrl, 'outage-a');
    const b = await startInstance(node.brokerUrl, 'outage-b');
    instances.push(a, b);
    const subscriber = await connectClient(a.ws, 'sub');
    const publisher = await connectClient(b.ws, 'pub');
    const frank = await connectClient(a.ws, 'frank');
    clients.push(subscriber, publisher, frank);
    const topic = `/topic/${uniqueName('outage')}`;
    const inbox = await subscriber.subscribe(topic);
    const personal = await frank.subscribe('/user/queue/notifications');
    await publisher.publish(topic, 'before');
    await inbox.waitFor(1);

    await node.stopApp();
    await eventually('/readyz to report not ready', async () => (await readyStatus(a)) === 503);
    const refused = await push(b.http, 'frank', { destination: '/queue/notifications', payload: 'while down' });
    expect(refused.status).to.equal(503);
    expect(refused.json.error.code).to.equal('BROKER_UNAVAILABLE');

    await node.startApp();
    await eventually('/readyz to report ready again', async () => (await readyStatus(a)) === 200 && (await readyStatus(b)) === 200, 30_000);
    // The clients never reconnected: the relay restored their subscriptions by itself.
    await eventually('the restored subscription to receive', async () => {
      await publisher.publish(topic, 'after');
      return inbox.bodies().includes('after');
    }, 15_000, 250);
    await eventually('a push to reach the restored user subscription', async () => {
      await push(b.http, 'frank', { destination: '/queue/notifications', payload: 'after' });
      return personal.bodies().includes('after');
    }, 15_000, 250);
    expect(subscriber.closes).to.equal(0);
    expect(frank.closes).to.equal(0);
    expect(personal.bodies()).to.not.include('while down');
  });

  it('starts without a broker, reports not ready, and serves clients once RabbitMQ comes up', async () => {
    node = await createRabbitNode();
    const a = await startInstance(node.brokerUrl, 'late-a');
    instances.push(a);
    expect(await readyStatus(a)).to.equal(503);
    expect((await fetch(`${a.http}/healthz`)).status).to.equal(200);
    await node.start();
    await eventually('/readyz to report ready', async () => (await readyStatus(a)) === 200, 30_000);
    const c = await connectClient(a.ws, 'late');
    clients.push(c);
    const inbox = await c.subscribe('/user/queue/hello');
    expect((await push(a.http, 'late', { destination: '/queue/hello', payload: 'hi' })).status).to.equal(202);
    expect((await inbox.waitFor(1))[0].body).to.equal('hi');
  });

  it('forgets the users of an instance killed with SIGKILL within three presence intervals', async function () {
    const cli = join(root, 'dist', 'server', 'cli.js');
    if (!existsSync(cli)) throw new Error('dist/server/cli.js is missing: run `npm run build` first (test/run-all.sh does)');
    node = await startRabbitNode();
    const a = await startInstance(node.brokerUrl, 'survivor');
    instances.push(a);
    const port = await freePort();
    const child: ChildProcess = spawn(process.execPath, [cli], {
      env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', BROKER_URL: node.brokerUrl, INSTANCE_ID: 'doomed', PRESENCE_INTERVAL_MS: '200', LOG_LEVEL: 'warn' },
      stdio: 'ignore',
    });
    try {
      await eventually('the child instance to be ready', async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 30_000);
      const grace = await connectClient(`ws://127.0.0.1:${port}/ws`, 'grace');
      await grace.subscribe('/user/queue/x');
      const seen = await eventually('the survivor to see grace', async () => {
        const body = await (await fetch(`${a.http}/users/grace`)).json() as { sessions: number };
        return body.sessions === 1;
      });
      expect(seen).to.equal(true);
      child.kill('SIGKILL');
      await once(child, 'exit');
      // Forgotten after 3 silent intervals of 200 ms; the bound leaves room for a loaded machine.
      await eventually('the survivor to forget grace', async () => {
        const body = await (await fetch(`${a.http}/users/grace`)).json() as { sessions: number };
        return body.sessions === 0;
      }, 5_000);
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
