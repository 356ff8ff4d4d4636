/**
 * Which node of a RabbitMQ cluster a connection goes to. BROKER_URL may list several nodes of one
 * cluster; every node serves every queue and exchange of the cluster, so any node will do, and the
 * pool spreads its connections over them (slot i starts at node i mod n). A connection that drops,
 * or an attempt that fails, sends the next attempt to the next node: connections leave a dead node
 * for the survivors, where the engine restores their subscriptions. Connections do not move back
 * when a node returns; they move only when their own node fails.
 */
import type { BrokerEndpoint } from '../../config';
import { Errors, relayError } from '../../errors';
import type { BrokerConnectionOptions } from './broker-connection';

/** Connection settings for connections that may go to any node of a cluster. */
export interface ClusterConnectionOptions extends Omit<BrokerConnectionOptions, 'endpoint'> {
  /** The cluster's nodes, in BROKER_URL's order; one for a single node. */
  readonly endpoints: readonly BrokerEndpoint[];
}

/** The node one connection uses now, and the one it tries after that. */
export class NodeRotation {
  private readonly endpoints: readonly BrokerEndpoint[];
  private index: number;

  /** Starts at node `first` mod the number of nodes. */
  constructor(endpoints: readonly BrokerEndpoint[], first: number) {
    if (endpoints.length === 0) throw relayError(Errors.INVALID_CONFIG, 'no RabbitMQ node to connect to');
    this.endpoints = endpoints;
    this.index = first % endpoints.length;
  }

  /** How many nodes there are. */
  get size(): number {
    return this.endpoints.length;
  }

  /** The node to connect to now. */
  get endpoint(): BrokerEndpoint {
    return this.endpoints[this.index];
  }

  /** `host:port` of the current node, for logs. */
  get label(): string {
    return `${this.endpoint.host}:${this.endpoint.port}`;
  }

  /** The current node failed (connection dropped, attempt refused or unanswered): use the next one. */
  advance(): void {
    this.index = (this.index + 1) % this.endpoints.length;
  }

  /** Options for {@link BrokerConnection.open} on the current node. */
  connectionOptions(options: ClusterConnectionOptions): BrokerConnectionOptions {
    return {
      heartbeatMs: options.heartbeatMs,
      connectTimeoutMs: options.connectTimeoutMs,
      parserLimits: options.parserLimits,
      endpoint: this.endpoint,
    };
  }
}
