/**
 * A three-node RabbitMQ cluster for one test file (test/harness/rabbitmq.ts startRabbitCluster),
 * and what tests on it need: which node holds what, and a publisher that survives the death of the
 * node its session's broker connection was on. Booting a cluster takes tens of seconds on a shared
 * 2-core box, so a file boots one in `before`, and nodes a test killed are booted again (with
 * their data: they rejoin) before the next test.
 */
import type { IFrame } from '@stomp/stompjs';
import { startRabbitCluster, type RabbitCluster, type RabbitNode } from '../../harness/rabbitmq';
import { unique, within, wsClient, type TestClient, type TestRelay } from '../../harness/stomp-test-kit';

export interface RabbitClusterFixture {
  /** The cluster (set in `before`). */
  readonly cluster: RabbitCluster;
}

/** Call inside `describe`: boots a cluster before the file's tests; each test starts with every node running. */
export function useRabbitCluster(size = 3): RabbitClusterFixture {
  let cluster: RabbitCluster | undefined;
  before(async function () {
    this.timeout(240_000);
    cluster = await startRabbitCluster(size);
  });
  // Before each test rather than after: nothing is rebooted after the file's last test.
  beforeEach(async function () {
    this.timeout(120_000);
    await cluster?.restartKilled();
  });
  after(async function () {
    this.timeout(60_000);
    await cluster?.stop();
  });
  return {
    get cluster(): RabbitCluster {
      if (!cluster) throw new Error('useRabbitCluster: the cluster boots in before(); use it inside tests');
      return cluster;
    },
  };
}

/** STOMP connections per node, in `cluster.nodes` order (every node lists those of the whole cluster). */
export async function stompConnectionsPerNode(cluster: RabbitCluster): Promise<number[]> {
  const connections = await cluster.running[0].listConnections();
  return cluster.nodes.map((n) => connections.filter((c) => c.serverPort === n.stompPort).length);
}

/**
 * The node whose connection carries the broker subscription of `/topic/<name>`: its queue is bound
 * to amq.topic with the topic's name, and a classic queue lives on the node of the connection that
 * declared it.
 */
export async function nodeOfTopicSubscription(cluster: RabbitCluster, name: string): Promise<RabbitNode> {
  const binding = (await cluster.running[0].listBindings()).find((b) => b.exchange === 'amq.topic' && b.routingKey === name);
  if (!binding) throw new Error(`no broker subscription to /topic/${name}`);
  const node = await cluster.nodeHostingQueue(binding.queue);
  if (!node) throw new Error(`no running node hosts ${binding.queue}`);
  return node;
}

/** The node whose connection carries the (one) consumer of queue `name`. */
export async function nodeOfConsumer(cluster: RabbitCluster, name: string): Promise<RabbitNode> {
  const via = cluster.running[0];
  const consumers = (await via.listConsumers()).filter((c) => c.queue === name);
  if (consumers.length !== 1) throw new Error(`expected one consumer of ${name}, found ${consumers.length}`);
  const channel = (await via.listChannels()).find((c) => c.pid === consumers[0].channelPid);
  const node = channel && cluster.nodeWithStompPort(channel.serverPort);
  if (!node) throw new Error(`no node for the channel of ${name}'s consumer: ${JSON.stringify(channel)}`);
  return node;
}

/**
 * Publishes through a relay with receipts. A publish that was on its way on a broker connection
 * when that connection's node died is answered with ERROR, which ends the session: the publisher
 * then opens a new session for the next publish. Only a RECEIPT counts as published.
 */
export class ReconnectingPublisher {
  private client: TestClient | undefined;
  private readonly relay: TestRelay;
  /** ERROR frames the relay answered publishes with. */
  readonly errors: IFrame[] = [];

  constructor(relay: TestRelay) {
    this.relay = relay;
  }

  /** True once the relay's RECEIPT said the broker took the message; false if it failed. */
  async publish(destination: string, body: string, headers: Record<string, string> = {}, receiptWaitMs = 30_000): Promise<boolean> {
    try {
      this.client ??= await wsClient(this.relay, { login: 'publisher' });
      const { client, closed, errors } = this.client;
      const id = unique('receipt');
      const receipted = new Promise<void>((resolve) => client.watchForReceipt(id, () => resolve()));
      client.publish({ destination, body, headers: { ...headers, receipt: id } });
      const refused = closed.then(() => { throw new Error(`session closed: ${errors.all.map((e) => e.headers.message).join('; ')}`); });
      refused.catch(() => undefined); // the session also closes, later, when the publisher is done
      await within(Promise.race([receipted, refused]), `RECEIPT for SEND ${destination}`, receiptWaitMs);
      return true;
    } catch {
      const failed = this.client;
      this.client = undefined;
      if (failed) this.errors.push(...failed.errors.all);
      await failed?.close().catch(() => undefined);
      return false;
    }
  }

  async close(): Promise<void> {
    await this.client?.close().catch(() => undefined);
    this.client = undefined;
  }
}
