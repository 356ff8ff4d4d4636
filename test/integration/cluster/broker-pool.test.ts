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
import { Inbox, unique as uniqueName, type TestRelay as Instance } from '../../harness/stomp-test-kit';
import { startInstance } from './cluster-helpers';

/** A bare session: its socket and the bodies of the MESSAGEs it received. */
interface RawSession {
  ws: WebSocket;
  bodies: Inbox<string>;
}

/**
 * A bare STOMP client: CONNECT, then SUBSCRIBE (with `extra` headers) with a receipt; resolves when
 * the receipt arrives, and keeps the MESSAGEs that follow.
 */
function subscribeRaw(url: string, login: string, destination: string, extra: Record<string, string> = {}): Promise<RawSession> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['v12.stomp']);
    const bodies = new Inbox<string>();
    const parser = new StompParser({
      onFrame: (frame: StompFrame) => {
        if (frame.command === 'CONNECTED') {
          ws.send(encodeFrame({ command: 'SUBSCRIBE', headers: headers({ ...extra, id: '0', destination, receipt: 'sub' }), body: Buffer.alloc(0) }, '1.2'));
        } else if (frame.command === 'RECEIPT') {
          resolve({ ws, bodies });
        } else if (frame.command === 'MESSAGE') {
          bodies.push(frame.body.toString('utf8'));
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
    const sessions: RawSession[] = [];
    // Three kinds of subscription: a user destination and a plain topic (bindings on the route
    // queue) and a client-ack topic (a STOMP subscription of its own, on a pooled connection).
    const subscriptionOf = (k: number): [string, Record<string, string>] =>
      k % 3 === 0 ? [`/user/queue/${run}`, {}] : k % 3 === 1 ? [`/topic/${run}-${k}`, {}] : [`/topic/${run}-${k}`, { ack: 'client-individual' }];
    // In batches of 50, so the test measures the relay and not a connect storm on a 2-core box.
    for (let i = 0; i < 500; i += 50) {
      sessions.push(...await Promise.all(Array.from({ length: 50 }, (_, j) =>
        subscribeRaw(instance.wsUrl, `user-${i + j}`, ...subscriptionOf(i + j)))));
    }
    expect(instance.relay.hub.size).to.equal(500);
    // Every session gets the message meant for it: pushes over AMQP, publishes over the STOMP pool.
    for (let i = 0; i < 500; i += 50) {
      await Promise.all(Array.from({ length: 50 }, async (_, j) => {
        const k = i + j;
        if (k % 3 === 0) expect((await instance.relay.sendToUser(`user-${k}`, `/queue/${run}`, `to ${k}`)).routed, `push to user-${k}`).to.equal(true);
        else await instance.relay.publish(subscriptionOf(k)[0], `to ${k}`);
      }));
    }
    for (const [k, session] of sessions.entries()) expect(await session.bodies.next(`the message to session ${k}`, 30_000)).to.equal(`to ${k}`);
    const connections = (await node.listConnections()).length - before;
    // The pool, plus at most one connection the engine keeps for probing risky destinations.
    expect(connections).to.be.within(1, 4 + 1);
    for (const { ws } of sessions) ws.terminate();
  });
});
