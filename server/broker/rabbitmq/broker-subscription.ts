/**
 * One subscription on RabbitMQ and the local consumers it feeds. Shared auto-ack topic
 * subscriptions feed many consumers with one Delivery object per message; every other kind feeds
 * exactly one consumer. It survives connection losses: the engine re-attaches it to a connection
 * of the pool, under a new broker subscription id, and the consumers notice nothing.
 */
import { randomBytes } from 'node:crypto';
import type { StompFrame } from '../../codec/frame';
import type { RelayError } from '../../errors';
import type { Logger } from '../../observability/logger';
import type { BrokerMessage, Delivery, SubscribeRequest } from '../broker';
import { deliverSafely } from '../deliver-safely';
import type { BrokerConnection } from './broker-connection';
import type { ConnectionSlot, SlotSubscription } from './connection-slot';
import { makeFrame } from './frames';
import type { RabbitConsumer } from './rabbit-consumer';
import { messageHeaders, subscribeHeaders } from './subscription-headers';

/** Marker messages of {@link BrokerSubscription.fence} carry this header; never shown to sinks. */
const FENCE_HEADER = 'x-stomp-relay-fence';

/** How long close() waits for RabbitMQ to confirm an UNSUBSCRIBE before letting go. */
const UNSUBSCRIBE_TIMEOUT_MS = 5000;

export class BrokerSubscription implements SlotSubscription {
  readonly request: SubscribeRequest;
  /** Set for shared subscriptions: the key they are found under. */
  readonly shareKey: string | undefined;
  readonly consumers = new Set<RabbitConsumer>();
  /** Resolves once RabbitMQ first confirmed the subscription; rejects if it refused it. */
  firstAttach: Promise<void> | undefined;
  /** Set once RabbitMQ confirmed it the first time; only then does the engine restore it by itself. */
  confirmed = false;
  /** Set when it is being or has been torn down; never re-attached after. */
  ended = false;
  /** Markers on their way through the queue, by token: resolving one ends its fence. */
  private readonly fences = new Map<string, () => void>();
  /** The fence in flight: joiners arriving meanwhile share it (it covers them all). */
  private pendingFence: Promise<void> | undefined;
  private lastFence = 0;
  /** Name of the RabbitMQ queue behind a shared subscription, on its current connection. */
  private queueName: string | undefined;
  private slot: ConnectionSlot | undefined;
  private id: string | undefined;
  private connection: BrokerConnection | undefined;
  private readonly onCancelled: (subscription: BrokerSubscription, reason: RelayError) => void;
  private readonly logger: Logger;

  constructor(
    request: SubscribeRequest,
    shareKey: string | undefined,
    onCancelled: (subscription: BrokerSubscription, reason: RelayError) => void,
    logger: Logger,
  ) {
    this.request = request;
    this.shareKey = shareKey;
    this.onCancelled = onCancelled;
    this.logger = logger;
  }

  /** True while placed on a connection (subscribed or subscribing). */
  get attached(): boolean {
    return this.slot !== undefined;
  }

  /**
   * Subscribes on `slot`'s connection under broker id `id`; resolves on RabbitMQ's RECEIPT. On
   * failure the subscription is detached again and the error (BROKER_UNAVAILABLE if the connection
   * dropped, else what RabbitMQ said) is thrown.
   */
  async attach(slot: ConnectionSlot, id: string): Promise<void> {
    const connection = slot.connection;
    if (!connection) throw new Error('attach to a slot without connection');
    this.slot = slot;
    this.id = id;
    this.connection = connection;
    slot.subscriptions.set(id, this);
    try {
      const headers = subscribeHeaders(this.request, id);
      if (this.shareKey !== undefined) {
        // Named by us (unless the client named it), so fence() can reach it.
        headers['x-queue-name'] ??= `stomp-relay.${id}.${randomBytes(6).toString('hex')}`;
        this.queueName = headers['x-queue-name'];
      }
      await connection.request(makeFrame('SUBSCRIBE', headers));
      this.confirmed = true;
    } catch (err) {
      if (this.connection === connection) this.detach();
      throw err;
    }
  }

  /** Its connection is gone: forget it (RabbitMQ dropped the subscription and requeued unacked messages). */
  detach(): void {
    if (this.slot && this.id !== undefined && this.slot.subscriptions.get(this.id) === this) this.slot.subscriptions.delete(this.id);
    this.slot = undefined;
    this.id = undefined;
    this.queueName = undefined;
    this.connection = undefined;
    for (const consumer of this.consumers) consumer.forgetUnacked();
    // The markers went with the connection: nothing more from before them can arrive either.
    for (const arrived of [...this.fences.values()]) arrived();
    this.fences.clear();
  }

  /**
   * Resolves once every message RabbitMQ queued for this subscription before now has reached the
   * engine: a marker goes through the subscription's own queue (FIFO) and comes back. A consumer
   * joining a shared subscription waits for it, so it gets nothing published before it subscribed.
   * Bounded; resolves at once while detached.
   */
  fence(timeoutMs = 5000): Promise<void> {
    const connection = this.connection;
    const queue = this.queueName;
    if (!connection || connection.closed || queue === undefined) return Promise.resolve();
    // One marker serves every joiner waiting now. A joiner that came after it was sent may still
    // see a few messages published between the two, all before its subscribe resolved.
    if (this.pendingFence) return this.pendingFence;
    const token = `${++this.lastFence}`;
    let timer: NodeJS.Timeout | undefined;
    const arrived = new Promise<void>((resolve) => {
      this.fences.set(token, resolve);
      timer = setTimeout(resolve, timeoutMs);
    });
    const fence = arrived.then(() => {
      clearTimeout(timer);
      this.fences.delete(token);
      if (this.pendingFence === fence) this.pendingFence = undefined;
    });
    this.pendingFence = fence;
    connection.send(makeFrame('SEND', { destination: `/amq/queue/${queue}`, [FENCE_HEADER]: token }));
    return fence;
  }

  /**
   * Ends the broker subscription (UNSUBSCRIBE, waiting a bounded time for its receipt). `extra`
   * headers go on the UNSUBSCRIBE (`durable` + `x-queue-name` make RabbitMQ delete a durable topic
   * subscription's queue). Returns false when there was no connection to say it on.
   */
  async end(extra?: Record<string, string>): Promise<boolean> {
    this.ended = true;
    const connection = this.connection;
    const id = this.id;
    this.detach();
    if (!connection || id === undefined || connection.closed) return false;
    let timer: NodeJS.Timeout | undefined;
    const unsubscribed = connection.request(makeFrame('UNSUBSCRIBE', { ...extra, id })).catch((err: Error) => {
      this.logger.debug({ err: err.message, destination: this.request.destination }, 'UNSUBSCRIBE failed');
    });
    await Promise.race([
      unsubscribed,
      new Promise((r) => {
        timer = setTimeout(r, UNSUBSCRIBE_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    return true;
  }

  onMessage(frame: StompFrame): void {
    const fence = frame.headers[FENCE_HEADER];
    if (fence !== undefined) {
      this.fences.get(fence)?.();
      return;
    }
    const message: BrokerMessage = {
      destination: frame.headers.destination ?? this.request.destination,
      headers: messageHeaders(frame),
      body: frame.body,
      messageId: frame.headers['message-id'] ?? '',
    };
    if (this.request.ack === 'auto') {
      // One Delivery for every local consumer: the session layer encodes the MESSAGE once
      // (session/message-encoder.ts caches per Delivery's message; the contract pins the sharing).
      const delivery: Delivery = { message };
      for (const consumer of this.consumers) {
        if (consumer.active) deliverSafely(consumer.sink, delivery, this.logger);
      }
      return;
    }
    const brokerAck = frame.headers.ack;
    const connection = this.connection;
    for (const consumer of this.consumers) {
      if (brokerAck !== undefined && connection && consumer.active) consumer.deliverWithAck(message, brokerAck, connection);
    }
  }

  onBrokerError(error: RelayError): void {
    this.ended = true;
    this.detach();
    this.onCancelled(this, error);
  }
}
