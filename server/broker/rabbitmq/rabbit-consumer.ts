/**
 * What the session layer holds for one subscription: its sink, and for client acks the map from
 * the engine's ack ids to RabbitMQ's (which are only valid on the connection that delivered them).
 */
import { anchorAckId } from './anchor';
import { makeFrame } from './frames';
import type { AckMode, AckOptions, BrokerMessage, CloseOptions, Consumer, DeliverySink, NackOptions } from '../broker';
import { settleUpTo } from '../cumulative-ack';
import { deliverSafely } from '../deliver-safely';
import type { BrokerConnection } from './broker-connection';
import type { Logger } from '../../observability/logger';

/** What a client settlement sends: ACK, NACK (requeue), or NACK with `requeue: false`. */
type Settlement = 'ACK' | 'NACK' | 'NACK-DROP';

interface Unacked {
  /** RabbitMQ's `ack` header of the MESSAGE. */
  brokerAck: string;
  connection: BrokerConnection;
}

/** The subscription a consumer belongs to, as the consumer sees it. */
export interface ConsumerOwner {
  /** The consumer closed: drop it (and the broker subscription if it was the last one). */
  release(consumer: RabbitConsumer, options?: CloseOptions): Promise<void>;
}

export class RabbitConsumer implements Consumer {
  readonly sink: DeliverySink;
  readonly ackMode: AckMode;
  private readonly owner: ConsumerOwner;
  private readonly logger: Logger;
  /** Insertion order is delivery order, which `client` mode's cumulative rule relies on. */
  private readonly unacked = new Map<string, Unacked>();
  private lastAckId = 0;
  private closing: Promise<void> | undefined;

  constructor(owner: ConsumerOwner, sink: DeliverySink, ackMode: AckMode, logger: Logger) {
    this.owner = owner;
    this.sink = sink;
    this.ackMode = ackMode;
    this.logger = logger;
  }

  /** False until it may receive (see BrokerSubscription.fence) and again once closed. */
  get active(): boolean {
    return this.activated && this.closing === undefined;
  }
  private activated = false;

  activate(): void {
    this.activated = true;
  }

  /** Hands a client-ack delivery to the sink, remembering how to settle it. */
  deliverWithAck(message: BrokerMessage, brokerAck: string, connection: BrokerConnection): void {
    const ackId = String(++this.lastAckId);
    this.unacked.set(ackId, { brokerAck, connection });
    deliverSafely(this.sink, { message, ackId }, this.logger);
  }

  ack(ackId: string, options?: AckOptions): boolean {
    return this.settle(ackId, 'ACK', options?.only === true);
  }

  nack(ackId: string, options?: NackOptions): boolean {
    // RabbitMQ's STOMP plugin reads `requeue` on NACK (basic.nack requeue=false: dead-lettered, or
    // dropped when the queue has no dead-letter exchange); absent means requeue.
    return this.settle(ackId, options?.requeue === false ? 'NACK-DROP' : 'NACK');
  }

  /**
   * The connection that delivered the unacked messages is gone: RabbitMQ has requeued them, and
   * their ack ids mean nothing on any other connection.
   */
  forgetUnacked(): void {
    this.unacked.clear();
  }

  close(options?: CloseOptions): Promise<void> {
    if (!this.closing) {
      // Unacked messages go back to the queue, but only once the broker subscription has ended:
      // NACKed earlier, RabbitMQ could hand them straight back to it. After UNSUBSCRIBE it refuses
      // ACK/NACK naming the subscription, so they are NACKed through the connection's anchor.
      const unacked = [...this.unacked.values()];
      this.unacked.clear();
      this.closing = this.owner.release(this, options).then(() => {
        for (const entry of unacked) {
          const viaAnchor = anchorAckId(entry.brokerAck);
          if (viaAnchor !== undefined) this.sendSettle({ brokerAck: viaAnchor, connection: entry.connection }, 'NACK');
        }
      });
    }
    return this.closing;
  }

  private settle(ackId: string, command: Settlement, only = false): boolean {
    if (this.closing) return false;
    // Cumulative in `client` mode (STOMP 1.2 §ACK): everything delivered up to this one, in delivery order.
    return settleUpTo(this.unacked, ackId, this.ackMode === 'client' && !only, (entry) => this.sendSettle(entry, command));
  }

  private sendSettle(entry: Unacked, settlement: Settlement): void {
    if (entry.connection.closed) return; // RabbitMQ requeued it when the connection dropped
    const drop = settlement === 'NACK-DROP';
    entry.connection.send(makeFrame(drop ? 'NACK' : settlement, { id: entry.brokerAck, requeue: drop ? 'false' : undefined }));
  }
}
