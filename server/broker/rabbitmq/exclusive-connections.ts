/**
 * Exclusive queues on RabbitMQ (`SUBSCRIBE /queue/replies-x exclusive:true`, or `durable:false`,
 * which RabbitMQ makes exclusive: subscription-flags.ts), each on a broker connection of its
 * subscriber's session's own, outside the pool.
 *
 * RabbitMQ locks an exclusive queue to the one connection that declared it: any other connection
 * that declares or consumes it gets RESOURCE_LOCKED, and the STOMP plugin then closes that
 * connection. On a pooled connection such a queue would be shared by every session on it, and a
 * second session's attempt would cut everybody's subscriptions. So a session's exclusive
 * subscriptions ride on one connection opened for that session when it first needs one (RPC reply
 * queues are the usual case: rx-stomp's documented pattern). There RabbitMQ's rules hold as for a
 * client connected to it directly: another session asking for the same queue is refused (its own
 * connection closes, nobody else's), and the queue goes when its connection does.
 *
 * - The connection closes with the session's last exclusive subscription (the engine does not see
 *   sessions end, only their consumers close), and with it RabbitMQ deletes the session's exclusive
 *   queues. So an exclusive queue without `auto-delete` lives until the session's last exclusive
 *   subscription ends, rather than until the client disconnects.
 * - It is never reopened: an exclusive queue cannot outlive its connection. If the connection drops
 *   (broker outage, or RabbitMQ refused one of the session's own requests), every subscription on
 *   it is cancelled with BROKER_UNAVAILABLE and the session ends with that ERROR; a client that
 *   reconnects declares its queue afresh.
 * - At most `maxConnections` at once per instance; beyond it a session's first exclusive SUBSCRIBE
 *   is refused with BROKER_UNAVAILABLE (RabbitMQ's connection count stays bounded).
 *
 * SENDs that answer such a queue never go here: the pool publishes them without declaring
 * (destination-guard.ts, `/amq/queue/`).
 */
import { Errors, isRelayError, relayError, type RelayError } from '../../errors';
import type { Logger } from '../../observability/logger';
import type { Consumer, DeliverySink, SubscribeRequest } from '../broker';
import { DEFAULT_BACKOFF } from './backoff';
import type { BrokerConnection } from './broker-connection';
import { BrokerSubscription } from './broker-subscription';
import type { ClusterConnectionOptions } from './cluster-nodes';
import { ConnectionSlot } from './connection-slot';
import { makeFrame } from './frames';
import { SENTINEL_DESTINATION } from './probe-connection';
import { RabbitConsumer } from './rabbit-consumer';

export interface ExclusiveConnectionsOptions {
  /** Where its connections go (a session's exclusive queues live on whichever node it reaches). */
  connection: ClusterConnectionOptions;
  /** Most sessions with exclusive queues at once, one broker connection each. 0 refuses exclusive queues. */
  maxConnections: number;
  logger: Logger;
}

/** One session's connection and the exclusive subscriptions on it. */
interface SessionLine {
  readonly key: string;
  readonly slot: ConnectionSlot;
  /** Resolves once the connection is up; rejects with BROKER_UNAVAILABLE if it could not be opened. */
  readonly opened: Promise<void>;
  readonly subscriptions: Set<BrokerSubscription>;
  /** Set once it is being closed: a later subscription of the session opens a new one. */
  closing: boolean;
}

export class ExclusiveConnections {
  private readonly options: ExclusiveConnectionsOptions;
  /** By session (the subscriber's, or one per subscription when none is named). */
  private readonly lines = new Map<string, SessionLine>();
  private nextLine = 0;
  private nextId = 0;
  private stopped = false;

  constructor(options: ExclusiveConnectionsOptions) {
    this.options = options;
  }

  /** Sessions holding a connection for exclusive queues right now. */
  get connections(): number {
    return this.lines.size;
  }

  /**
   * Subscribes on the session's own connection (opened now if it has none). Rejects with RabbitMQ's
   * refusal (DESTINATION_NOT_ALLOWED for a queue exclusive to another session), or BROKER_UNAVAILABLE.
   */
  async subscribe(request: SubscribeRequest, sink: DeliverySink): Promise<Consumer> {
    if (this.stopped) throw relayError(Errors.BROKER_UNAVAILABLE, 'the relay is stopping');
    const key = request.subscriber?.session ?? `subscription-${this.nextLine + 1}`;
    const line = this.lines.get(key) ?? this.open(key);
    await line.opened;
    const connection = line.slot.connection;
    if (line.closing || !connection)
      throw relayError(
        Errors.BROKER_UNAVAILABLE,
        `the broker connection for the exclusive queues of this session closed; subscribe again (${request.destination})`,
      );
    const subscription = new BrokerSubscription(request, undefined, (s, reason) => this.cancelled(line, s, reason), this.options.logger);
    line.subscriptions.add(subscription);
    const consumer = new RabbitConsumer({ release: (c) => this.release(line, subscription, c) }, sink, request.ack, this.options.logger);
    subscription.consumers.add(consumer);
    // Messages already in the queue may come before the RECEIPT: they must not be lost.
    consumer.activate();
    try {
      await this.attach(subscription, line, connection);
    } catch (err) {
      subscription.ended = true;
      subscription.consumers.delete(consumer);
      line.subscriptions.delete(subscription);
      this.closeIfIdle(line);
      // RabbitMQ closes the connection right after its ERROR (RESOURCE_LOCKED...), which says why.
      throw connection.lastBrokerError ?? (isRelayError(err) ? err : relayError(Errors.BROKER_ERROR, String(err)));
    }
    return consumer;
  }

  /**
   * SUBSCRIBE on the line, with a sentinel behind it: RabbitMQ answers a value it cannot parse with
   * an ERROR and no RECEIPT, keeping the connection open. When the sentinel's answer comes and the
   * SUBSCRIBE's has not (answers come in order), the SUBSCRIBE failed: the connection, poisoned by
   * a RECEIPT that will never come, is dropped. It is the session's own: nobody else is touched.
   */
  private async attach(subscription: BrokerSubscription, line: SessionLine, connection: BrokerConnection): Promise<void> {
    let failure: unknown;
    // Sent before the sentinel: attach writes its SUBSCRIBE before its first await.
    const attached = subscription.attach(line.slot, `x${++this.nextId}`).catch((err: unknown) => {
      failure = err;
    });
    const sentinel = connection.request(makeFrame('SEND', { destination: SENTINEL_DESTINATION })).catch(() => undefined);
    await Promise.race([attached, sentinel]);
    // RECEIPTs settle in arrival order, and attach marks success in the first reaction to its own.
    await sentinel;
    if (subscription.confirmed) return;
    if (failure === undefined) {
      connection.destroy('a SUBSCRIBE for an exclusive queue was refused');
      await attached;
    }
    throw (
      failure ??
      connection.lastBrokerError ??
      relayError(Errors.BROKER_ERROR, `RabbitMQ did not confirm ${subscription.request.destination}`)
    );
  }

  /** Closes every connection; RabbitMQ deletes the exclusive queues with them. */
  async stop(): Promise<void> {
    this.stopped = true;
    const lines = [...this.lines.values()];
    this.lines.clear();
    for (const line of lines) {
      line.closing = true;
      for (const subscription of line.subscriptions) {
        subscription.ended = true;
        subscription.detach();
      }
      line.subscriptions.clear();
    }
    await Promise.all(lines.map((line) => line.slot.stop()));
  }

  private open(key: string): SessionLine {
    const { maxConnections, connection, logger } = this.options;
    if (this.lines.size >= maxConnections) {
      throw relayError(
        Errors.BROKER_UNAVAILABLE,
        `${this.lines.size} sessions already hold exclusive queues on this instance (at most ${maxConnections}: BROKER_EXCLUSIVE_CONNECTIONS)`,
      );
    }
    const index = ++this.nextLine;
    let line: SessionLine | undefined;
    const slot = new ConnectionSlot(
      index,
      connection,
      DEFAULT_BACKOFF,
      {
        onUp: () => undefined,
        onDown: (_slot, _orphans, reason) => {
          if (line) this.lost(line, reason);
        },
      },
      logger,
      false,
    );
    const opened = slot.start().then(() => {
      if (!slot.up) throw relayError(Errors.BROKER_UNAVAILABLE, 'could not open a broker connection for exclusive queues');
    });
    line = { key, slot, opened, subscriptions: new Set(), closing: false };
    const created = line;
    this.lines.set(key, created);
    opened.catch(() => {
      created.closing = true;
      if (this.lines.get(key) === created) this.lines.delete(key);
    });
    return created;
  }

  private async release(line: SessionLine, subscription: BrokerSubscription, consumer: RabbitConsumer): Promise<void> {
    subscription.consumers.delete(consumer);
    line.subscriptions.delete(subscription);
    if (!subscription.ended) await subscription.end();
    this.closeIfIdle(line);
  }

  /** The session's last exclusive subscription ended: its connection goes, and its queues with it. */
  private closeIfIdle(line: SessionLine): void {
    if (line.subscriptions.size > 0 || line.closing) return;
    line.closing = true;
    if (this.lines.get(line.key) === line) this.lines.delete(line.key);
    void line.slot.stop();
  }

  /** The connection dropped: its exclusive queues are gone, so are the subscriptions on them. */
  private lost(line: SessionLine, reason: RelayError): void {
    line.closing = true;
    if (this.lines.get(line.key) === line) this.lines.delete(line.key);
    void line.slot.stop();
    const error = relayError(
      Errors.BROKER_UNAVAILABLE,
      `the broker connection holding this session's exclusive queues closed, and RabbitMQ deleted them with it (${reason.message})`,
    );
    for (const subscription of [...line.subscriptions]) {
      subscription.detach();
      // Unconfirmed ones are still in subscribe(), which reports the failure itself.
      if (subscription.confirmed) this.cancelled(line, subscription, error);
    }
  }

  /** RabbitMQ ended a subscription by itself (or its connection went): its consumers' sinks are told. */
  private cancelled(line: SessionLine, subscription: BrokerSubscription, reason: RelayError): void {
    if (!line.subscriptions.delete(subscription)) return;
    subscription.ended = true;
    this.options.logger.warn({ destination: subscription.request.destination, reason: reason.message }, 'exclusive subscription cancelled');
    for (const consumer of [...subscription.consumers]) {
      void consumer.close();
      try {
        consumer.sink.cancelled(reason);
      } catch (err) {
        this.options.logger.error({ err }, 'sink.cancelled threw');
      }
    }
  }
}
