/**
 * A channel of JSON messages between the relay's instances, on one internal destination under
 * `amq.direct` (user-destinations.ts): with RabbitMQ a binding on every instance's route queue,
 * with the embedded broker a topic. Presence snapshots (the registry) and session control travel on
 * channels of their own.
 *
 * The channel subscribes at start and again whenever the broker becomes ready after an outage (the
 * relay may start while RabbitMQ is away), and hands every message whose body is a JSON object to
 * `onMessage`; anything else is dropped (clients cannot reach internal destinations, but stay robust).
 */
import type { Broker, Consumer, Delivery } from '../broker/broker';
import { headers } from '../codec/frame';
import type { Logger } from '../observability/logger';

export interface InternalChannelOptions {
  broker: Broker;
  /** An internal destination (under INTERNAL_DESTINATION_PREFIX). */
  destination: string;
  /** What the channel carries, for logs ("presence registry"). */
  name: string;
  logger: Logger;
  onMessage(message: Record<string, unknown>): void;
  /**
   * Looks at a message's body before it is parsed; false drops it unparsed. For messages known from
   * their first bytes to be of no interest (presence: the instance's own snapshots, which every
   * instance receives back and whose parse makes an object of every local user, ~1 KB of garbage per
   * user and snapshot).
   */
  accept?(body: Buffer): boolean;
  /** Called once subscribed again after the broker became ready (peers may have missed what we sent). */
  onReady?(): void;
}

export class InternalChannel {
  private consumer: Consumer | null = null;
  private subscribing = false;
  private stopped = false;
  private unsubscribeReady: (() => void) | null = null;

  constructor(private readonly options: InternalChannelOptions) {}

  /** Subscribes; with the broker down it resolves anyway and subscribes once the broker is ready. */
  async start(): Promise<void> {
    this.unsubscribeReady = this.options.broker.onReadyChange((ready) => {
      if (!ready || this.stopped) return;
      void this.ensureSubscribed().then(() => {
        if (!this.stopped) this.options.onReady?.();
      });
    });
    await this.ensureSubscribed();
  }

  /** Sends `message` to every instance subscribed to the channel (this one included). */
  publish(message: object, options: { confirm?: boolean } = {}): Promise<void> {
    return this.publishEncoded(InternalChannel.encode(message), options);
  }

  /**
   * Sends a message already encoded with {@link encode} (one that is sent again unchanged need not
   * be built and stringified again). The body is not modified, so the same one may be sent again.
   */
  publishEncoded(body: Buffer, options: { confirm?: boolean } = {}): Promise<void> {
    return this.options.broker.publish(
      { destination: this.options.destination, headers: headers({ 'content-type': 'application/json' }), body },
      options,
    );
  }

  /** A message's body as the channel sends it (JSON, UTF-8). */
  static encode(message: object): Buffer {
    return Buffer.from(JSON.stringify(message));
  }

  /** Stops listening. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.unsubscribeReady?.();
    await this.consumer?.close();
  }

  private async ensureSubscribed(): Promise<void> {
    if (this.consumer || this.subscribing || this.stopped) return;
    this.subscribing = true;
    try {
      this.consumer = await this.options.broker.subscribe(
        { destination: this.options.destination, ack: 'auto', headers: headers() },
        {
          deliver: (d) => this.onDelivery(d),
          cancelled: (reason) => {
            this.consumer = null;
            this.options.logger.warn({ reason: reason.message }, `${this.options.name} subscription cancelled`);
          },
        },
      );
      if (this.stopped) await this.consumer.close();
    } catch (err) {
      // The broker engine reports why it is not ready (at warn); this is only its consequence.
      this.options.logger.debug(
        { reason: (err as Error).message },
        `${this.options.name} not subscribed yet; retrying when the broker is ready`,
      );
    } finally {
      this.subscribing = false;
    }
  }

  private onDelivery(delivery: Delivery): void {
    const body = delivery.message.body;
    if (this.options.accept !== undefined && !this.options.accept(body)) return;
    let value: unknown;
    try {
      value = JSON.parse(body.toString('utf8'));
    } catch {
      return;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return;
    try {
      this.options.onMessage(value as Record<string, unknown>);
    } catch (err) {
      this.options.logger.error({ err }, `${this.options.name} message handler threw`);
    }
  }
}
