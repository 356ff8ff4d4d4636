/**
 * One consumer of an embedded queue: the ack-mode bookkeeping behind {@link Consumer}.
 */
import type { AckMode, AckOptions, BrokerMessage, Consumer, DeliverySink, NackOptions } from '../broker';
import type { StompHeaders } from '../../codec/frame';
import type { Logger } from '../../observability/logger';
import { settleUpTo } from '../cumulative-ack';
import { deliverSafely } from '../deliver-safely';

/** A message as one queue holds it. The {@link BrokerMessage} may be shared; the flags are this queue's. */
export interface QueuedMessage {
  readonly message: BrokerMessage;
  /** Set once the message went back to the queue (NACK, or its consumer closed with it unacked). */
  redelivered: boolean;
  /** `message` plus `redelivered: true`, built on the first redelivery and reused after. */
  redeliveredView?: BrokerMessage;
}

/** What a consumer reports to the queue it consumes from. */
export interface ConsumerHost {
  /** `count` unacked messages of this queue were acked. */
  settled(count: number): void;
  /**
   * Unacked messages were NACKed (in delivery order): back to the head of the queue, or dropped
   * when `requeue` is false (a NACK with `requeue: false`) or the queue never requeues.
   */
  rejected(entries: QueuedMessage[], requeue: boolean): void;
  /** The consumer closed; `unacked` were still unacked (in delivery order). */
  consumerClosed(consumer: QueueConsumer, unacked: QueuedMessage[]): void;
}

/**
 * Tracks what one consumer holds. `auto`: nothing, a message is done once handed over.
 * `client` / `client-individual`: each delivery gets an ack id and stays owned by the consumer until
 * ACK or NACK; in `client` mode both are cumulative (they settle every earlier unacked delivery too),
 * as STOMP 1.2 says for ACK and as RabbitMQ does for NACK (`multiple = true`).
 * `prefetch` (> 0) caps unacked deliveries in the client modes; 0 means no cap, as in RabbitMQ.
 */
export class QueueConsumer implements Consumer {
  private open = true;
  /** Ack id → message, in delivery order (Map keeps insertion order: cumulative acks walk it). */
  private readonly unacked = new Map<string, QueuedMessage>();
  private lastAckId = 0;

  constructor(
    private readonly host: ConsumerHost,
    private readonly sink: DeliverySink,
    readonly ackMode: AckMode,
    private readonly prefetch: number,
    private readonly logger: Logger,
    private readonly onClosed?: () => void,
  ) {}

  get active(): boolean {
    return this.open;
  }

  /** Whether the consumer may take one more message now. */
  hasCapacity(): boolean {
    return this.open && (this.ackMode === 'auto' || this.prefetch === 0 || this.unacked.size < this.prefetch);
  }

  /** Hands `entry` to the sink (the queue already took it off its ready list). */
  deliver(entry: QueuedMessage): void {
    const message = entry.redelivered ? (entry.redeliveredView ??= markRedelivered(entry.message)) : entry.message;
    if (this.ackMode === 'auto') {
      deliverSafely(this.sink, { message }, this.logger);
      return;
    }
    const ackId = String(++this.lastAckId);
    // Recorded before the sink runs: the sink may ack from inside deliver().
    this.unacked.set(ackId, entry);
    deliverSafely(this.sink, { message, ackId }, this.logger);
  }

  ack(ackId: string, options?: AckOptions): boolean {
    const entries = this.open ? this.take(ackId, options?.only === true) : undefined;
    if (entries === undefined) return false;
    this.host.settled(entries.length);
    return true;
  }

  nack(ackId: string, options?: NackOptions): boolean {
    const entries = this.open ? this.take(ackId) : undefined;
    if (entries === undefined) return false;
    // requeue:false drops: RabbitMQ would dead-letter where the queue names a dead-letter exchange,
    // which the embedded broker (no exchanges, no queue arguments) has no faithful equivalent for.
    this.host.rejected(entries, options?.requeue !== false);
    return true;
  }

  close(): Promise<void> {
    if (this.open) {
      this.open = false;
      const unacked = [...this.unacked.values()];
      this.unacked.clear();
      this.host.consumerClosed(this, unacked);
      this.onClosed?.();
    }
    return Promise.resolve();
  }

  /** Ends the consumer without returning its messages anywhere: the broker is stopping. */
  detach(): void {
    this.open = false;
    this.unacked.clear();
  }

  /** Removes what an ack of `ackId` settles, in delivery order; undefined when the id is unknown. */
  private take(ackId: string, only = false): QueuedMessage[] | undefined {
    const taken: QueuedMessage[] = [];
    const known = settleUpTo(this.unacked, ackId, this.ackMode === 'client' && !only, (entry) => taken.push(entry));
    return known ? taken : undefined;
  }
}

function markRedelivered(message: BrokerMessage): BrokerMessage {
  const headers: StompHeaders = Object.assign(Object.create(null) as StompHeaders, message.headers);
  headers.redelivered = 'true';
  return { destination: message.destination, headers, body: message.body, messageId: message.messageId };
}
