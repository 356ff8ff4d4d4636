/**
 * Which node of a RabbitMQ cluster each connection of the engine goes to, against fake STOMP
 * nodes that only answer CONNECT and receipts: pool slot i starts at node i mod n, a slot whose
 * node dies moves on to the next one, and the probe connection skips a dead node. (What RabbitMQ
 * itself does when a node dies is tested on a real cluster: test/integration/cluster/.)
 */
import * as net from 'node:net';
import { expect } from 'chai';
import type { BrokerEndpoint } from '../../../server/config';
import { RabbitMqBroker } from '../../../server/broker/rabbitmq';
import { ProbeConnection } from '../../../server/broker/rabbitmq/probe-connection';
import { headers } from '../../../server/codec/frame';
import { silentLogger } from '../../../server/observability/logger';
import { waitUntil } from '../../broker-suite/wait';

/** A TCP peer that speaks just enough STOMP for connections to open: CONNECTED, RECEIPT. */
class FakeNode {
  readonly sockets = new Set<net.Socket>();
  readonly endpoint: BrokerEndpoint;
  private readonly server: net.Server;

  private constructor(server: net.Server) {
    this.server = server;
    this.endpoint = { host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, login: 'guest', passcode: 'guest', vhost: '/' };
  }

  static async start(): Promise<FakeNode> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const node = new FakeNode(server);
    server.on('connection', (socket) => node.serve(socket));
    return node;
  }

  /** Open connections that completed CONNECT. */
  get connections(): number {
    return [...this.sockets].filter((s) => !s.destroyed).length;
  }

  /** The node dies: every connection drops and nothing answers on its port any more. */
  async kill(): Promise<void> {
    const closed = new Promise((resolve) => this.server.close(resolve));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private serve(socket: net.Socket): void {
    let buffered = '';
    socket.on('error', () => undefined);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('data', (chunk) => {
      buffered += chunk.toString('utf8');
      let nul: number;
      while ((nul = buffered.indexOf('\0')) >= 0) {
        const frame = buffered.slice(0, nul).replace(/^[\r\n]+/, '');
        buffered = buffered.slice(nul + 1);
        const [command, ...lines] = frame.slice(0, frame.indexOf('\n\n')).split('\n');
        if (command === 'CONNECT') {
          this.sockets.add(socket);
          socket.write('CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\0');
        }
        const receipt = lines.find((l) => l.startsWith('receipt:'));
        if (receipt !== undefined) socket.write(`RECEIPT\nreceipt-id:${receipt.slice('receipt:'.length)}\n\n\0`);
      }
    });
  }
}

describe('rabbitmq engine on the nodes of a cluster', () => {
  let nodes: FakeNode[] = [];
  const started: Array<{ stop(): Promise<void> }> = [];

  beforeEach(async () => {
    nodes = await Promise.all([FakeNode.start(), FakeNode.start(), FakeNode.start()]);
  });

  afterEach(async () => {
    await Promise.all(started.splice(0).map((b) => b.stop()));
    await Promise.all(nodes.map((n) => n.kill()));
  });

  function startBroker(poolSize: number): Promise<RabbitMqBroker> {
    const broker = new RabbitMqBroker({
      endpoints: nodes.map((n) => n.endpoint), poolSize, heartbeatMs: 0, reconnect: { initialMs: 10, maxMs: 50 },
    });
    started.push(broker);
    return broker.start().then(() => broker);
  }

  it('spreads the pool over the nodes: connection i goes to node i mod n', async () => {
    const broker = await startBroker(4);
    expect(broker.openConnections).to.equal(4);
    expect(nodes.map((n) => n.connections)).to.deep.equal([2, 1, 1]);
  });

  it('moves the connections of a node that died on to the next node', async () => {
    const broker = await startBroker(4);
    await nodes[0].kill();
    await waitUntil(() => broker.openConnections === 4 && broker.connectionsOpened === 6, () => `open ${broker.openConnections}, opened ${broker.connectionsOpened}`);
    expect(nodes.map((n) => n.connections)).to.deep.equal([0, 3, 1]);
  });

  it('keeps the single-node form: `endpoint` alone is a cluster of one', async () => {
    const broker = new RabbitMqBroker({ endpoint: nodes[2].endpoint, poolSize: 2, heartbeatMs: 0 });
    started.push(broker);
    await broker.start();
    expect(nodes.map((n) => n.connections)).to.deep.equal([0, 0, 2]);
  });

  it('opens the probe connection on the next node when one is down', async () => {
    await nodes[0].kill();
    const probes = new ProbeConnection({
      connection: { endpoints: nodes.map((n) => n.endpoint), heartbeatMs: 0, connectTimeoutMs: 2000 },
      timeoutMs: 2000, maxQueued: 10, logger: silentLogger(),
    });
    started.push(probes);
    const release = await probes.probe({ destination: '/queue/q', headers: headers() });
    await release();
    expect(nodes.map((n) => n.connections)).to.deep.equal([0, 1, 0]);
  });
});
