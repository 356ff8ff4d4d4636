/**
 * An embedded queue: a FIFO of ready messages shared by competing consumers.
 */
import type { AckMode, BrokerMessage, DeliverySink } from '../broker';
import type { Logger } from '../../observability/logger';
import { Deque } from './deque';
import type { DeliveryScheduler, DeliveryTask } from './delivery-scheduler';
import { QueueConsumer, type ConsumerHost, type QueuedMessage } from './queue-consumer';

export interface QueuePolicy {
  /** Most messages held at once, ready plus unacked. {@link MessageQueue.offer} refuses beyond it. */
  readonly limit: number;
  /**
   * Whether NACKed messages, and those unacked when their consumer closes, go back to the head of
   * the queue (`/queue`: at-least-once) or are dropped (a topic subscription's buffer: at-most-once).
   */
  readonly requeueRejected: boolean;
}

/**
 * Ready messages leave in FIFO order, round-robin over the consumers that have capacity (an `auto`
 * consumer always has; a client-ack consumer while under its `prefetch-count`). Messages that come
 * back (NACK, consumer closed) go to the head, in their original order, marked redelivered; that
 * is RabbitMQ's behaviour too.
 *
 * The queue is its own {@link DeliveryTask}: any change that may allow deliveries (publish, ack,
 * nack, a consumer added or closed) schedules it once; when it runs it delivers what it can.
 */
export class MessageQueue implements DeliveryTask, ConsumerHost {
  private readonly ready = new Deque<QueuedMessage>();
  private readonly consumers: QueueConsumer[] = [];
  /** Index in {@link consumers} where the round-robin search for the next consumer starts. */
  private nextConsumer = 0;
  private unackedCount = 0;
  private scheduled = false;

  constructor(
    readonly name: string,
    private readonly policy: QueuePolicy,
    private readonly scheduler: DeliveryScheduler,
    private readonly logger: Logger,
    /** Called when the queue holds nothing and has no consumer, so its owner may forget it. */
    private readonly onIdle?: (queue: MessageQueue) => void,
  ) {}

  /** Messages held: ready plus delivered-but-unacked. */
  get depth(): number {
    return this.ready.length + this.unackedCount;
  }

  /** Appends a message. Returns false, leaving the queue unchanged, when it is full. */
  offer(message: BrokerMessage): boolean {
    if (this.depth >= this.policy.limit) return false;
    this.ready.pushBack({ message, redelivered: false });
    this.schedule();
    return true;
  }

  /** Adds a consumer. Deliveries to it happen when the scheduler next runs. */
  addConsumer(sink: DeliverySink, ackMode: AckMode, prefetch: number, onClosed?: () => void): QueueConsumer {
    const consumer = new QueueConsumer(this, sink, ackMode, prefetch, this.logger, onClosed);
    this.consumers.push(consumer);
    this.schedule();
    return consumer;
  }

  run(budget: number): number {
    this.scheduled = false;
    let delivered = 0;
    // Sinks may re-enter (ack, nack, close, publish) from deliver(); every iteration re-reads state.
    while (delivered < budget && this.ready.length > 0) {
      const consumer = this.nextWithCapacity();
      if (consumer === undefined) break;
      const entry = this.ready.shift() as QueuedMessage;
      if (consumer.ackMode !== 'auto') this.unackedCount++;
      delivered++;
      consumer.deliver(entry);
    }
    if (delivered >= budget) this.schedule(); // more may be deliverable: continue on a later drain
    this.releaseIfIdle();
    return delivered;
  }

  settled(count: number): void {
    this.unackedCount -= count;
    this.kick();
  }

  rejected(entries: QueuedMessage[], requeue: boolean): void {
    this.unackedCount -= entries.length;
    if (requeue && this.policy.requeueRejected) {
      // Back to the head in original order; a requeue is never refused, even over the limit.
      for (let i = entries.length - 1; i >= 0; i--) {
        entries[i].redelivered = true;
        this.ready.pushFront(entries[i]);
      }
    }
    this.kick();
  }

  consumerClosed(consumer: QueueConsumer, unacked: QueuedMessage[]): void {
    const index = this.consumers.indexOf(consumer);
    if (index !== -1) {
      this.consumers.splice(index, 1);
      if (index < this.nextConsumer) this.nextConsumer--;
    }
    this.rejected(unacked, true);
    this.releaseIfIdle();
  }

  /** Ends every consumer and drops every message: the broker is stopping. */
  closeAll(): void {
    for (const consumer of this.consumers) consumer.detach();
    this.consumers.length = 0;
    this.ready.clear();
    this.unackedCount = 0;
  }

  private nextWithCapacity(): QueueConsumer | undefined {
    const count = this.consumers.length;
    for (let i = 0; i < count; i++) {
      const index = (this.nextConsumer + i) % count;
      const consumer = this.consumers[index];
      if (consumer.hasCapacity()) {
        this.nextConsumer = (index + 1) % count;
        return consumer;
      }
    }
    return undefined;
  }

  /** Schedules a dispatch and drains now, unless a drain is already running up the stack. */
  private kick(): void {
    this.schedule();
    this.scheduler.run();
  }

  private schedule(): void {
    if (this.scheduled || this.ready.length === 0 || this.consumers.length === 0) return;
    this.scheduled = true;
    this.scheduler.enqueue(this);
  }

  private releaseIfIdle(): void {
    if (this.consumers.length === 0 && this.ready.length === 0) this.onIdle?.(this);
  }
}
