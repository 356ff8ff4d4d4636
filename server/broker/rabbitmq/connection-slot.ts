/**
 * One place in the connection pool: keeps a {@link BrokerConnection} open, reopening it with
 * backoff whenever it drops, and knows which broker subscriptions ride on it.
 */
import type { StompFrame } from '../../codec/frame';
import type { RelayError } from '../../errors';
import type { Logger } from '../../observability/logger';
import { backoffDelay, RetryLoop, type BackoffOptions } from './backoff';
import { BrokerConnection, isConnectRefused } from './broker-connection';
import { anchorAckId, subscribeAnchor } from './anchor';
import { NodeRotation, type ClusterConnectionOptions } from './cluster-nodes';
import { makeFrame } from './frames';

/** What a slot needs from a subscription riding on it. */
export interface SlotSubscription {
  onMessage(frame: StompFrame): void;
  /** RabbitMQ ended this subscription by itself (ERROR naming it). */
  onBrokerError(error: RelayError): void;
}

export interface SlotEvents {
  onUp(slot: ConnectionSlot): void;
  /** The connection dropped; `subscriptions` were on it (the slot has already forgotten them). */
  onDown(slot: ConnectionSlot, subscriptions: SlotSubscription[], reason: RelayError): void;
}

export class ConnectionSlot {
  readonly index: number;
  /** Broker subscriptions on the current connection, by the broker subscription id we gave them. */
  readonly subscriptions = new Map<string, SlotSubscription>();
  /** How many times a connection was opened here (the first time included). */
  opened = 0;
  private current: BrokerConnection | undefined;
  /** The backoff grows per round over every node: a dead node costs one short wait, not a long one. */
  private readonly retry = new RetryLoop(
    () => void this.connect(),
    (failures) => backoffDelay(Math.floor(failures / this.nodes.size), this.backoff),
  );
  private connecting = false;
  private readonly options: ClusterConnectionOptions;
  /** Slot i starts at node i mod n and moves to the next node whenever its node fails (cluster-nodes.ts). */
  private readonly nodes: NodeRotation;
  private readonly backoff: BackoffOptions;
  private readonly events: SlotEvents;
  private readonly logger: Logger;
  private readonly reconnect: boolean;

  /**
   * `reconnect: false` makes a one-shot slot: one attempt, and once its connection is gone it stays
   * down (a session's own connection for exclusive queues, which go with it: exclusive-connections.ts).
   */
  constructor(
    index: number,
    options: ClusterConnectionOptions,
    backoff: BackoffOptions,
    events: SlotEvents,
    logger: Logger,
    reconnect = true,
  ) {
    this.index = index;
    this.options = options;
    this.nodes = new NodeRotation(options.endpoints, index);
    this.backoff = backoff;
    this.events = events;
    this.logger = logger;
    this.reconnect = reconnect;
  }

  /** The open connection, or undefined while reconnecting. */
  get connection(): BrokerConnection | undefined {
    return this.current;
  }
  get up(): boolean {
    return this.current !== undefined;
  }

  /** Connects; resolves after the first attempt, successful or not (retries continue in the background). */
  start(): Promise<void> {
    return this.connect();
  }

  /** Skips the wait before the next attempt (another slot just reached the broker: it is back). */
  retryNow(): void {
    this.retry.now();
  }

  async stop(): Promise<void> {
    this.retry.stop();
    const connection = this.current;
    this.current = undefined;
    this.subscriptions.clear();
    await connection?.close();
  }

  private async connect(): Promise<void> {
    if (this.retry.stopped || this.connecting || this.current) return;
    this.connecting = true;
    try {
      // Declared first: bytes the parser rejects right behind CONNECTED (same chunk) close the
      // connection before `open` resolves, and onClose must not touch an unassigned binding.
      let opened: BrokerConnection | undefined;
      // eslint-disable-next-line prefer-const -- onClose reads `opened`, possibly before this assignment
      opened = await BrokerConnection.open(this.nodes.connectionOptions(this.options), {
        onMessage: (frame) => this.route(frame),
        onError: (error, frame) => this.routeError(error, frame),
        onClose: (reason) => {
          if (opened) this.lost(opened, reason);
        },
      });
      const connection = opened;
      // See ANCHOR_ID: the connection is usable only once RabbitMQ confirmed the anchor.
      await subscribeAnchor(connection);
      if (this.retry.stopped) {
        await connection.close();
        return;
      }
      this.retry.succeeded();
      this.opened++;
      this.current = connection;
      this.logger.info({ slot: this.index, node: this.nodes.label }, 'broker connection up');
      this.events.onUp(this);
    } catch (err) {
      if (isConnectRefused(err)) {
        // Wrong credentials or vhost: no retry fixes that, so say it where operators look.
        this.logger.warn(
          { slot: this.index, node: this.nodes.label, reason: err.refusal.message, detail: err.refusal.body },
          `RabbitMQ refused the connection: ${err.refusal.message}`,
        );
      } else {
        // Nothing listening, a timeout, a reset: also what an operator must see, with the cause. At
        // warn for the first failure of a series and every tenth after (an outage retries every few
        // seconds on every slot), at debug in between; the AMQP link does the same.
        const level = this.retry.failures % 10 === 0 ? 'warn' : 'debug';
        this.logger[level](
          { slot: this.index, node: this.nodes.label, reason: (err as Error).message, attempt: this.retry.failures + 1 },
          'broker connection attempt failed (BROKER_URL)',
        );
      }
      this.nodes.advance();
      this.scheduleRetry();
    } finally {
      this.connecting = false;
    }
  }

  private lost(connection: BrokerConnection, reason: RelayError): void {
    if (this.current !== connection) return;
    this.current = undefined;
    const orphans = [...this.subscriptions.values()];
    this.subscriptions.clear();
    if (this.retry.stopped) return;
    this.logger.warn(
      { slot: this.index, node: this.nodes.label, reason: reason.message, reconnect: this.reconnect },
      'broker connection lost',
    );
    // Its node may be gone: the next attempt goes to the next node of the cluster.
    this.nodes.advance();
    this.events.onDown(this, orphans, reason);
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.reconnect) this.retry.later();
  }

  private route(frame: StompFrame): void {
    const id = frame.headers.subscription;
    const subscription = id === undefined ? undefined : this.subscriptions.get(id);
    if (subscription) {
      subscription.onMessage(frame);
      return;
    }
    // In flight when its subscription ended: give it back to its queue at once, or it would stay
    // unacked for as long as this shared connection lives.
    const viaAnchor = frame.headers.ack === undefined ? undefined : anchorAckId(frame.headers.ack);
    if (viaAnchor !== undefined) this.current?.send(makeFrame('NACK', { id: viaAnchor }));
    this.logger.debug({ slot: this.index, subscription: id }, 'MESSAGE for an ended subscription; requeued or dropped');
  }

  private routeError(error: RelayError, frame: StompFrame): void {
    const id = frame.headers.subscription;
    const subscription = id === undefined ? undefined : this.subscriptions.get(id);
    if (subscription) subscription.onBrokerError(error);
    else this.logger.warn({ slot: this.index, error: error.message }, 'ERROR from the broker');
  }
}
