/**
 * The design bet of the relay: a small pool of broker connections per instance, whatever the
 * number of browser sessions (Spring's relay opens one per session).
 */
import { expect } from 'chai';
import WebSocket from 'ws';
import { StompParser } from '../../../server/codec/parser';
import { encodeFrame } from '../../../server/codec/serializer';
import { headers, type StompFrame } from '../../../server/codec/frame';
import { sharedRabbitNode } from '../../harness/rabbitmq';
import { unique as uniqueName, type TestRelay as Instance } from '../../harness/stomp-test-kit';
import { startInstance } from './cluster-helpers';

/** A bare STOMP client: CONNECT, then SUBSCRIBE with a receipt; resolves when the receipt arrives. */
function subscribeRaw(url: string, login: string, destination: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['v12.stomp']);
    const parser = new StompParser({
      onFrame: (frame: StompFrame) => {
        if (frame.command === 'CONNECTED') {
          ws.send(encodeFrame({ command: 'SUBSCRIBE', headers: headers({ id: '0', destination, receipt: 'sub' }), body: Buffer.alloc(0) }, '1.2'));
        } else if (frame.command === 'RECEIPT') {
          resolve(ws);
        } else if (frame.command === 'ERROR') {
          reject(new Error(frame.headers.message));
        }
      },
    });
    ws.on('message', (data: Buffer) => parser.push(data));
    ws.on('error', reject);
    ws.on('open', () => ws.send(encodeFrame({ command: 'CONNECT', headers: headers({ 'accept-version': '1.2', host: '/', login, 'heart-beat': '0,0' }), body: Buffer.alloc(0) }, '1.2')));
  });
}

describe('broker connection pool (RabbitMQ)', function () {
  this.timeout(120_000);
  let instance: Instance;

  after(async () => {
    await instance?.close();
  });

  it('serves 500 sessions with distinct subscriptions over at most BROKER_POOL_SIZE broker connections', async () => {
    const node = await sharedRabbitNode();
    const before = (await node.listConnections()).length;
    instance = await startInstance(node.relayOptions, 'pool-a', { brokerPoolSize: 4 });
    const run = uniqueName('pool');
    const sockets: WebSocket[] = [];
    // In batches of 50, so the test measures the relay and not a connect storm on a 2-core box.
    for (let i = 0; i < 500; i += 50) {
      sockets.push(...await Promise.all(Array.from({ length: 50 }, (_, j) =>
        subscribeRaw(instance.wsUrl, `user-${i + j}`, j % 2 ? `/topic/${run}-${i + j}` : `/user/queue/${run}`))));
    }
    expect(instance.relay.hub.size).to.equal(500);
    const connections = (await node.listConnections()).length - before;
    // The pool, plus at most one connection the engine keeps for probing risky destinations.
    expect(connections).to.be.within(1, 4 + 1);
    for (const ws of sockets) ws.terminate();
  });
});
