/**
 * Publish/subscribe for the embedded broker: `/topic/<key>` and `/exchange/<name>/<key>`.
 *
 * Matching is exact on the whole destination (no `*` / `#` wildcards). A subscription receives the
 * messages published after it was created (at-most-once; nothing is stored for absent subscribers).
 */
import type { AckMode, BrokerMessage, Consumer, Delivery, DeliverySink } from '../broker';
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

export class TopicRouter {
  private readonly targets = new Map<string, Set<TopicTarget>>();

  constructor(
    private readonly scheduler: DeliveryScheduler,
    private readonly logger: Logger,
    /** Most messages a client-ack subscription buffers beyond its prefetch before dropping new ones. */
    private readonly bufferLimit: number
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
      const subscription = new DirectSubscription(sink, after, this.logger, (s) => this.remove(key, s));
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

  /** Schedules delivery of `message` (sequence number `sequence`) to the subscriptions of `key`. */
  publish(key: string, message: BrokerMessage, sequence: number): void {
    const targets = this.targets.get(key);
    if (targets !== undefined) this.scheduler.enqueue(new FanOut(targets, { message }, sequence));
  }

  /** Ends every subscription: the broker is stopping. */
  closeAll(): void {
    for (const targets of this.targets.values()) {
      for (const target of targets) target.detach();
    }
    this.targets.clear();
  }

  private add(key: string, target: TopicTarget): void {
    let targets = this.targets.get(key);
    if (targets === undefined) {
      targets = new Set();
      this.targets.set(key, targets);
    }
    targets.add(target);
  }

  private remove(key: string, target: TopicTarget): void {
    const targets = this.targets.get(key);
    if (targets === undefined) return;
    targets.delete(target);
    if (targets.size === 0) this.targets.delete(key);
  }
}

/**
 * Delivers one message to the subscriptions of one key. It walks the live set when it runs (no
 * copy per publish): subscriptions added since the publish are skipped by sequence number, closed
 * ones by their flag, so re-entrant subscribe/close from a sink is safe.
 */
class FanOut implements DeliveryTask {
  constructor(
    private readonly targets: Set<TopicTarget>,
    private readonly delivery: Delivery,
    private readonly sequence: number
  ) {}

  run(): number {
    let delivered = 0;
    for (const target of this.targets) {
      if (target.active && target.after < this.sequence) delivered += target.accept(this.delivery);
    }
    return delivered;
  }
}

/** An `auto` topic subscription: messages go straight to the sink. */
class DirectSubscription implements TopicTarget, Consumer {
  private open = true;

  constructor(
    private readonly sink: DeliverySink,
    readonly after: number,
    private readonly logger: Logger,
    private readonly onClosed: (subscription: DirectSubscription) => void
  ) {}

  get active(): boolean {
    return this.open;
  }

  accept(delivery: Delivery): number {
    deliverSafely(this.sink, delivery, this.logger);
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
      this.onClosed(this);
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
    private readonly logger: Logger
  ) {}

  get active(): boolean {
    return this.consumer.active;
  }

  accept(delivery: Delivery): number {
    if (!this.buffer.offer(delivery.message)) {
      // Log the first drop and then every 1000th, not each one: a stuck subscriber must not flood logs.
      if (this.dropped++ % 1000 === 0) {
        this.logger.warn(
          { destination: delivery.message.destination, dropped: this.dropped, buffered: this.buffer.depth },
          'topic subscription buffer is full; dropping messages for it'
        );
      }
    }
    return 0; // the buffer is scheduled and delivers on its own
  }

  detach(): void {
    this.consumer.detach();
    this.buffer.closeAll();
  }
}
