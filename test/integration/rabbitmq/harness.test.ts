/**
 * The private RabbitMQ node the integration tests run against: it boots with broker/rabbitmq.conf,
 * speaks STOMP, and survives a simulated outage.
 */
import { expect } from 'chai';
import * as net from 'node:net';
import { sharedRabbitNode, type RabbitNode } from '../../harness/rabbitmq';

/** Sends a raw CONNECT and resolves with the first frame the broker answers (up to its NUL). */
function rawConnect(port: number, login = 'guest', passcode = 'guest'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let received = '';
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no answer to CONNECT; got ${JSON.stringify(received)}`)); }, 5000);
    socket.on('data', (chunk) => {
      received += chunk.toString('utf8');
      const nul = received.indexOf('\0');
      if (nul >= 0) {
        clearTimeout(timer);
        socket.destroy();
        resolve(received.slice(0, nul));
      }
    });
    socket.on('error', (err) => { clearTimeout(timer); reject(err); });
    socket.write(`CONNECT\naccept-version:1.2\nhost:/\nlogin:${login}\npasscode:${passcode}\n\n\0`);
  });
}

describe('RabbitMQ test harness', function () {
  this.timeout(90_000);
  let node: RabbitNode;

  before(async () => {
    node = await sharedRabbitNode();
  });

  it('boots a node whose STOMP plugin answers CONNECT with CONNECTED 1.2', async () => {
    const answer = await rawConnect(node.stompPort);
    expect(answer.split('\n')[0]).to.equal('CONNECTED');
    expect(answer).to.include('version:1.2');
  });

  it('refuses wrong credentials with an ERROR frame', async () => {
    const answer = await rawConnect(node.stompPort, 'guest', 'wrong');
    expect(answer.split('\n')[0]).to.equal('ERROR');
  });

  it('lists the STOMP connections it holds', async () => {
    const socket = net.connect({ port: node.stompPort, host: '127.0.0.1' });
    await new Promise<void>((resolve) => {
      socket.once('data', () => resolve());
      socket.write('CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\0');
    });
    try {
      const connections = await node.listConnections();
      const mine = connections.find((c) => c.peerPort === socket.localPort);
      expect(mine, JSON.stringify(connections)).to.include({ user: 'guest', state: 'running' });
    } finally {
      socket.destroy();
    }
  });

  it('stops and restarts the RabbitMQ application (a simulated outage)', async () => {
    await node.stopApp();
    await rawConnect(node.stompPort).then(
      () => expect.fail('STOMP still answers after stop_app'),
      (err: NodeJS.ErrnoException) => expect(err.code).to.equal('ECONNREFUSED'),
    );
    await node.startApp();
    expect((await rawConnect(node.stompPort)).split('\n')[0]).to.equal('CONNECTED');
  });

  it('serves Web-STOMP on its own port', async () => {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ port: node.webStompPort, host: '127.0.0.1' }, () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    expect(ok).to.equal(true);
  });
});
