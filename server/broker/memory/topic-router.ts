/**
 * Publish/subscribe for the embedded broker: `/topic/<key>` and `/exchange/<name>/<key>`.
 *
 * Matching is exact on the whole destination (no `*` / `#` wildcards). A subscription receives the
 * messages published after it was created (at-most-once; nothing is stored for absent subscribers).
 */
import type { AckMode, BrokerMessage, CloseOptions, Consumer, Delivery, DeliverySink } from '../broker';
import type { Logger } from '../../observability/logger';
import { deliverSafely } from '../deliver-safely';
import type { DeliveryScheduler, DeliveryTask } from './delivery-scheduler';
import { MessageQueue } from './message-queue';
import type { QueueConsumer } from './queue-consumer';

/** One subscription as the router sees it. */
interface TopicTarget {
  /** Sequence number of the last message published before the subscription existed. */
  readonly after: number;
  readonly active: boolean;
  /** Takes one message; returns how many deliveries it made right now. */
  accept(delivery: Delivery): number;
  /** Ends the subscription without notifying anyone: the broker is stopping. */
  detach(): void;
}

/** A key's subscriptions: its only one, or a Set of two or more (see {@link TopicRouter}). */
type TopicTargets = TopicTarget | Set<TopicTarget>;

export class TopicRouter {
  /**
   * The subscriptions of each key: the subscription itself while it is the key's only one (most
   * keys: a user destination has one subscriber per session), a Set from the second on. A Set of
   * one costs ~150 bytes, per idle user.
   */
  private readonly targets = new Map<string, TopicTargets>();
  /** Durable subscriptions by queue name: they outlive their consumers (see {@link subscribeDurable}). */
  private readonly durables = new Map<string, DurableSubscription>();

  constructor(
    private readonly scheduler: DeliveryScheduler,
    /** @internal DirectSubscription logs through it. */
    readonly logger: Logger,
    /** Most messages a client-ack subscription buffers beyond its prefetch before dropping new ones. */
    private readonly bufferLimit: number,
  ) {}

  /**
   * Subscribes to `key`. `after` is the sequence number of the last message published so far: the
   * subscription receives only later ones.
   *
   * `auto` subscriptions get the message directly, and all of them get the same {@link Delivery}
   * object (the session layer encodes a MESSAGE frame once per fan-out because of that).
   * `client` / `client-individual` subscriptions get a private buffer, as RabbitMQ gives each
   * STOMP topic subscription its own queue, so acks and `prefetch-count` work as on a queue; a
   * NACKed message is dropped (topics are at-most-once) and a full buffer drops new messages
   * rather than failing the publisher because one subscriber is slow.
   */
  subscribe(key: string, sink: DeliverySink, ackMode: AckMode, prefetch: number, after: number): Consumer {
    if (ackMode === 'auto') {
      const subscription = new DirectSubscription(sink, after, this, key);
      this.add(key, subscription);
      return subscription;
    }
    const buffer = new MessageQueue(key, { limit: this.bufferLimit, requeueRejected: false }, this.scheduler, this.logger);
    let target: BufferedSubscription | undefined;
    const consumer = buffer.addConsumer(sink, ackMode, prefetch, () => {
      if (target !== undefined) this.remove(key, target);
    });
    target = new BufferedSubscription(buffer, consumer, after, this.logger);
    this.add(key, target);
    return consumer;
  }

  /** True while `key` has at least one subscription (a mandatory publish needs one). */
  has(key: string): boolean {
    return this.targets.has(key);
  }

  /**
   * A durable subscription (subscription-flags.ts): the buffer called `name` collects what `key`
   * gets from its first subscription on, whether or not anyone consumes it, and every consumer of
   * the same name shares it (competing, as on a queue). A consumer closing leaves it in place,
   * unless it was the last one and the buffer is `autoDelete` (RabbitMQ's default for topic
   * subscriptions: durable ones say `auto-delete:false`); one closing with `removeDurable` (when
   * `removable`: the engine named it) deletes it and what it holds.
   */
  subscribeDurable(
    name: string,
    key: string,
    sink: DeliverySink,
    ackMode: AckMode,
    prefetch: number,
    after: number,
    options: { removable: boolean; autoDelete: boolean },
  ): Consumer {
    let durable = this.durables.get(name);
    if (durable === undefined) {
      const buffer = new MessageQueue(name, { limit: this.bufferLimit, requeueRejected: true }, this.scheduler, this.logger);
      durable = new DurableSubscription(buffer, after, this.logger);
      this.durables.set(name, durable);
    }
    // A client-named queue may be bound to several keys, as on RabbitMQ.
    if (!durable.keys.has(key)) {
      durable.keys.add(key);
      this.add(key, durable);
    }
    const consumer = durable.buffer.addConsumer(sink, ackMode, prefetch);
    durable.consumers++;
    const owner = durable;
    let open = true;
    return {
      ack: (ackId, ackOptions) => consumer.ack(ackId, ackOptions),
      nack: (ackId) => consumer.nack(ackId),
      close: async (closeOptions?: CloseOptions) => {
        if (!open) return;
        open = false;
        await consumer.close();
        const last = --owner.consumers === 0;
        const remove = (closeOptions?.removeDurable === true && options.removable) || (last && options.autoDelete);
        if (remove && this.durables.get(name) === owner) {
          this.durables.delete(name);
          for (const bound of owner.keys) this.remove(bound, owner);
          owner.detach();
        }
      },
    };
  }

  /** Schedules delivery of `message` (sequence number `sequence`) to the subscriptions of `key`. */
  publish(key: string, message: BrokerMessage, sequence: number): void {
    const targets = this.targets.get(key);
    // One Delivery for every subscription of the key: session/message-encoder.ts then encodes the
    // MESSAGE once for all of them (the contract pins the sharing).
    if (targets !== undefined) this.scheduler.enqueue(new FanOut(targets, { message }, sequence));
  }

  /** Ends every subscription: the broker is stopping. */
  closeAll(): void {
    for (const targets of this.targets.values()) {
      if (targets instanceof Set) for (const target of targets) target.detach();
      else targets.detach();
    }
    this.targets.clear();
    this.durables.clear();
  }

  private add(key: string, target: TopicTarget): void {
    const targets = this.targets.get(key);
    if (targets === undefined) this.targets.set(key, target);
    else if (targets instanceof Set) targets.add(target);
    else if (targets !== target) this.targets.set(key, new Set([targets, target]));
  }

  /** @internal DirectSubscription: `target` of `key` closed. */
  remove(key: string, target: TopicTarget): void {
    const targets = this.targets.get(key);
    if (targets === target) this.targets.delete(key);
    else if (targets instanceof Set && targets.delete(target) && targets.size === 0) this.targets.delete(key);
  }
}

/**
 * Delivers one message to the subscriptions of one key. It walks the live set when it runs (no
 * copy per publish): subscriptions added since the publish are skipped by sequence number, closed
 * ones by their flag, so re-entrant subscribe/close from a sink is safe.
 */
class FanOut implements DeliveryTask {
  constructor(
    private readonly targets: TopicTargets,
    private readonly delivery: Delivery,
    private readonly sequence: number,
  ) {}

  run(): number {
    const targets = this.targets;
    if (!(targets instanceof Set)) return targets.active && targets.after < this.sequence ? targets.accept(this.delivery) : 0;
    let delivered = 0;
    for (const target of targets) {
      if (target.active && target.after < this.sequence) delivered += target.accept(this.delivery);
    }
    return delivered;
  }
}

/**
 * An `auto` topic subscription: messages go straight to the sink. It names its router and key
 * rather than holding a closure to remove itself: one object per subscription, nothing more.
 */
class DirectSubscription implements TopicTarget, Consumer {
  private open = true;

  constructor(
    private readonly sink: DeliverySink,
    readonly after: number,
    private readonly router: TopicRouter,
    private readonly key: string,
  ) {}

  get active(): boolean {
    return this.open;
  }

  accept(delivery: Delivery): number {
    deliverSafely(this.sink, delivery, this.router.logger);
    return 1;
  }

  /** Nothing to acknowledge in `auto` mode. */
  ack(): boolean {
    return false;
  }

  nack(): boolean {
    return false;
  }

  close(): Promise<void> {
    if (this.open) {
      this.open = false;
      this.router.remove(this.key, this);
    }
    return Promise.resolve();
  }

  detach(): void {
    this.open = false;
  }
}

/** A client-ack topic subscription: messages go through its private buffer queue. */
class BufferedSubscription implements TopicTarget {
  private dropped = 0;

  constructor(
    private readonly buffer: MessageQueue,
    private readonly consumer: QueueConsumer,
    readonly after: number,
    private readonly logger: Logger,
  ) {}

  get active(): boolean {
    return this.consumer.active;
  }

  accept(delivery: Delivery): number {
    this.dropped = offerOrDrop(this.buffer, delivery, this.dropped, this.logger);
    return 0; // the buffer is scheduled and delivers on its own
  }

  detach(): void {
    this.consumer.detach();
    this.buffer.closeAll();
  }
}

/** A durable topic subscription: its buffer keeps collecting while no consumer is attached. */
class DurableSubscription implements TopicTarget {
  /** The keys its buffer is bound to. */
  readonly keys = new Set<string>();
  /** Consumers attached now. */
  consumers = 0;
  private dropped = 0;
  private removed = false;

  constructor(
    readonly buffer: MessageQueue,
    readonly after: number,
    private readonly logger: Logger,
  ) {}

  get active(): boolean {
    return !this.removed;
  }

  accept(delivery: Delivery): number {
    this.dropped = offerOrDrop(this.buffer, delivery, this.dropped, this.logger);
    return 0;
  }

  detach(): void {
    this.removed = true;
    this.buffer.closeAll();
  }
}

/**
 * Offers a message to a subscription's buffer; a full buffer drops it (topics are at-most-once:
 * one slow subscriber must not fail the publisher). Returns the new drop count. Logs the first drop
 * and then every 1000th, not each one: a stuck subscriber must not flood logs.
 */
function offerOrDrop(buffer: MessageQueue, delivery: Delivery, dropped: number, logger: Logger): number {
  if (buffer.offer(delivery.message)) return dropped;
  if (dropped % 1000 === 0) {
    logger.warn(
      { destination: delivery.message.destination, dropped: dropped + 1, buffered: buffer.depth },
      'topic subscription buffer is full; dropping messages for it',
    );
  }
  return dropped + 1;
}
