/**
 * Routing state that grows with instances, not users: ONE durable queue per relay instance, and on
 * it one binding per (exchange, routing key) that a local session is interested in — a user
 * destination (`amq.direct`, `stomp-relay.user.<user>.<dest>`) or a plain topic (`amq.topic`). An
 * instance still receives only what its own sessions subscribed to (interest-based routing), but a
 * connected user costs RabbitMQ a binding (≈ 1 KB) instead of a queue (tens of KB, an Erlang
 * process, slow to declare).
 *
 * ## Surviving broker restarts and half-dead links
 * The queue is durable, with `x-expires` (it disappears once its instance has been gone for
 * `queueTtlMs`), and its bindings are durable: after a broker restart they are simply there again,
 * nothing needs restoring, and messages routed while the relay reconnects wait in the queue.
 * Deliveries are acked only after they were handed to every local subscriber, so a link that dies
 * (or is half-dead until heart-beats find it) hands its unacked messages back to the queue and they
 * arrive after the reconnect: at-least-once for user destinations. Only when the queue itself is
 * gone (expired during a long outage, or its cluster node died) does the instance declare a new one
 * and bind every route again; `ready` is false until that is done, so `/readyz` says 503 meanwhile.
 *
 * ## Local fan-out
 * The queue gets one copy of a message however many bindings match; the local subscriptions it
 * goes to are found here: exact keys by map lookup, `amq.topic` wildcard patterns by matching.
 * Every local subscriber of a message gets the same Delivery object, so the session layer encodes
 * the MESSAGE frame once per fan-out (server/session/message-encoder.ts relies on that).
 *
 * ## Joining
 * A subscription becomes active once a marker sent through the queue after its binding was
 * confirmed has come back (a fence), so it never receives what was routed before it subscribed.
 * One marker serves every joiner that asked before it was sent.
 */
import { randomBytes } from 'node:crypto';
import type { ConsumeMessage } from 'amqplib';
import type { StompHeaders } from '../../../codec/frame';
import { Errors, relayError } from '../../../errors';
import type { Logger } from '../../../observability/logger';
import type { BrokerMessage, Consumer, Delivery, DeliverySink } from '../../broker';
import { deliverSafely } from '../../deliver-safely';
import type { AmqpLink, AmqpSession } from './amqp-link';
import { messageHeaders, publishOptions, stompDestination } from './amqp-message';
import { isWildcardPattern, topicMatches } from './topic-pattern';

/** Exchanges routes can be bound on: they exist on every vhost, so a bind can never fail for a missing exchange. */
export type RouteExchange = 'amq.direct' | 'amq.topic';

/** Prefix of every route queue's name: reserved, no client may consume or declare it. */
export const ROUTE_QUEUE_PREFIX = 'stomp-relay.routes.';

/** Marker messages of the join fence carry this header; never shown to sinks. */
const FENCE_HEADER = 'x-stomp-relay-fence';
/** Ties a mandatory publish to its basic.return; stripped before delivery. */
const PUBLICATION_HEADER = 'x-stomp-relay-publication';
/** How long a joiner waits for its fence marker before it is let in anyway. */
const FENCE_TIMEOUT_MS = 5000;
/** Bind/unbind requests in flight at once while restoring a new queue (the broker is the bound). */
const RESTORE_CONCURRENCY = 64;

export interface InstanceRoutesOptions {
  link: AmqpLink;
  /** Names the route queue (with a random suffix per declaration). */
  instanceId: string;
  /** The route queue's `x-expires`: how long it outlives its instance. */
  queueTtlMs: number;
  /** The route queue's `x-max-length` (oldest dropped beyond it): bounds what a stalled instance piles up. */
  maxQueuedMessages: number;
  /** Unacked deliveries in flight from the broker (basic.qos). */
  prefetch: number;
  logger: Logger;
  /** Called whenever {@link InstanceRoutes.ready} changes. */
  onReadyChange(ready: boolean): void;
}

type BindingState = 'unbound' | 'bound' | 'unknown';

/** One (exchange, pattern) this instance is interested in, and the local subscriptions behind it. */
class RouteBinding {
  readonly consumers = new Set<RoutedConsumer>();
  readonly wildcard: boolean;
  /** What the broker has for the current queue. */
  state: BindingState = 'unbound';
  /** The running reconcile, if any; {@link again} asks it for one more pass. */
  syncing: Promise<void> | undefined;
  /** The connection {@link syncing} runs on. */
  syncingOn: AmqpSession | undefined;
  again = false;

  constructor(
    readonly exchange: RouteExchange,
    readonly pattern: string,
  ) {
    this.wildcard = exchange === 'amq.topic' && isWildcardPattern(pattern);
  }

  get wanted(): boolean {
    return this.consumers.size > 0;
  }
}

class RoutedConsumer implements Consumer {
  active = false;
  private closed = false;

  constructor(
    readonly sink: DeliverySink,
    private readonly leave: (c: RoutedConsumer) => Promise<void>,
  ) {}

  // Route subscriptions are auto-ack: nothing to settle.
  ack(): boolean {
    return false;
  }
  nack(): boolean {
    return false;
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.active = false;
    return this.leave(this);
  }
}

export class InstanceRoutes {
  private readonly bindings = new Map<string, RouteBinding>();
  /** Wildcard bindings, per exchange, matched against every delivery's routing key. */
  private readonly wildcards = new Set<RouteBinding>();
  private session: AmqpSession | undefined;
  private queueName: string | undefined;
  private isReady = false;
  private stopped = false;
  /** Counts connections, so message ids stay unique across reconnects. */
  private generation = 0;
  private lastFence = 0;
  private readonly fences = new Map<string, Array<() => void>>();
  private fenceWaiters: Array<() => void> = [];
  private fenceScheduled = false;
  private lastPublication = 0;
  private readonly returned = new Set<string>();
  private ackPending: ConsumeMessage | undefined;
  private ackScheduled = false;

  constructor(private readonly options: InstanceRoutesOptions) {}

  /** True while the route queue is consumed and every wanted binding is in place. */
  get ready(): boolean {
    return this.isReady;
  }

  /** The current route queue's name (for tests and metrics). */
  get queue(): string | undefined {
    return this.queueName;
  }

  /** Local bindings currently wanted. */
  get bindingCount(): number {
    let n = 0;
    for (const b of this.bindings.values()) if (b.wanted) n++;
    return n;
  }

  stop(): void {
    this.stopped = true;
    this.session = undefined;
    this.setReady(false);
    for (const binding of this.bindings.values()) for (const c of binding.consumers) c.active = false;
    this.bindings.clear();
    this.wildcards.clear();
    this.releaseFences();
  }

  /** The link is up: find or make the route queue, consume it, and put every wanted binding in place. */
  async linkUp(session: AmqpSession): Promise<void> {
    if (this.stopped) return;
    this.session = session;
    this.generation++;
    session.confirms.on('return', (msg: ConsumeMessage) => {
      const id = msg.properties.headers?.[PUBLICATION_HEADER];
      if (typeof id === 'string') this.returned.add(id);
    });
    try {
      const existing = this.queueName !== undefined && (await this.queueExists(session, this.queueName));
      if (!existing) {
        // First start, or the queue is gone (expired, or its node died): a new one, every route again.
        // Instance ids are words without spaces; cut so the name stays within AMQP's 255 bytes.
        this.queueName = `${ROUTE_QUEUE_PREFIX}${this.options.instanceId.slice(0, 128)}.${randomBytes(4).toString('hex')}`;
        await session.channel.assertQueue(this.queueName, {
          durable: true,
          arguments: { 'x-expires': this.options.queueTtlMs, 'x-max-length': this.options.maxQueuedMessages, 'x-queue-type': 'classic' },
        });
        for (const binding of this.bindings.values()) binding.state = 'unbound';
      } else {
        // Durable bindings survived; only those whose last change never got its answer are in doubt.
        for (const binding of this.bindings.values()) if (binding.syncing !== undefined) binding.state = 'unknown';
      }
      const queue = this.queueName;
      if (this.session !== session || queue === undefined) return;
      await session.channel.prefetch(this.options.prefetch);
      await session.channel.consume(
        queue,
        (msg) => {
          if (msg !== null) {
            this.onDelivery(session, msg);
          } else if (this.session === session) {
            // RabbitMQ cancelled the consumer: the queue was deleted, or its cluster node went down.
            // Starting over finds it gone and declares a new one with every route bound again.
            this.options.link.reset('the broker cancelled the route queue consumer');
          }
        },
        { noAck: false },
      );
      await this.restoreAll(session);
      if (this.session === session) {
        this.options.logger.info(
          { queue: this.queueName, bindings: this.bindingCount, restored: !existing },
          'user and topic routes ready',
        );
        this.setReady(true);
      }
    } catch (err) {
      if (this.session !== session) return;
      this.options.logger.warn({ err: (err as Error).message }, 'could not set up the route queue; reconnecting');
      this.options.link.reset('route queue setup failed');
    }
  }

  /** The link dropped: nothing is delivered until it is back; bindings in flight are in doubt. */
  linkDown(): void {
    this.session = undefined;
    this.ackPending = undefined;
    this.returned.clear();
    this.setReady(false);
    this.releaseFences();
  }

  /**
   * Subscribes `sink` to messages routed through `exchange` with a key matching `pattern`. Resolves
   * once the binding is in place and the join fence has passed (see the file comment).
   */
  async subscribe(exchange: RouteExchange, pattern: string, sink: DeliverySink): Promise<Consumer> {
    if (!this.isReady || this.session === undefined)
      throw relayError(Errors.BROKER_UNAVAILABLE, 'routes to RabbitMQ are being restored; retrying');
    const id = `${exchange}\n${pattern}`;
    let binding = this.bindings.get(id);
    if (binding === undefined) {
      binding = new RouteBinding(exchange, pattern);
      this.bindings.set(id, binding);
      if (binding.wildcard) this.wildcards.add(binding);
    }
    const target = binding;
    const consumer = new RoutedConsumer(sink, (c) => this.leave(target, c));
    target.consumers.add(consumer);
    try {
      const session = this.session;
      await this.sync(target, session);
      if (target.state !== 'bound' || this.session !== session)
        throw relayError(Errors.BROKER_UNAVAILABLE, 'the AMQP connection dropped while subscribing');
      await this.fence();
    } catch (err) {
      target.consumers.delete(consumer);
      void this.sync(target, this.session).catch(() => undefined);
      throw err;
    }
    consumer.active = true;
    return consumer;
  }

  /**
   * Publishes with `mandatory` on the confirm channel. Resolves true once RabbitMQ confirmed it and
   * routed it to at least one queue, false when it reached none (basic.return, which RabbitMQ sends
   * before the confirm). Rejects with BROKER_UNAVAILABLE when the link is down or drops first.
   */
  publish(exchange: RouteExchange, routingKey: string, headers: StompHeaders, body: Buffer): Promise<boolean> {
    const session = this.session;
    if (session === undefined) return Promise.reject(relayError(Errors.BROKER_UNAVAILABLE, 'no AMQP connection to RabbitMQ; retrying'));
    const id = `${this.generation}.${++this.lastPublication}`;
    const options = publishOptions(headers, { [PUBLICATION_HEADER]: id });
    options.mandatory = true;
    return new Promise<boolean>((resolve, reject) => {
      try {
        session.confirms.publish(exchange, routingKey, body, options, (err) => {
          if (err) {
            this.returned.delete(id);
            reject(
              this.session === session
                ? relayError(Errors.BROKER_ERROR, 'RabbitMQ refused the message (nack)')
                : relayError(Errors.BROKER_UNAVAILABLE, 'the AMQP connection dropped before RabbitMQ confirmed the message'),
            );
            return;
          }
          resolve(!this.returned.delete(id));
        });
      } catch (err) {
        reject(relayError(Errors.BROKER_UNAVAILABLE, `AMQP publish failed: ${(err as Error).message}`));
      }
    });
  }

  // --- bindings ---

  private leave(binding: RouteBinding, consumer: RoutedConsumer): Promise<void> {
    binding.consumers.delete(consumer);
    if (binding.wanted) return Promise.resolve();
    return this.sync(binding, this.session).catch(() => undefined);
  }

  /**
   * Brings the broker's binding in line with local interest, one request at a time per binding;
   * a change asked for while one is running gets one more pass after it.
   */
  private sync(binding: RouteBinding, session: AmqpSession | undefined): Promise<void> {
    if (binding.syncing !== undefined) {
      // A pass for a connection that has since dropped fails on its own; then start afresh.
      if (binding.syncingOn !== session) return binding.syncing.catch(() => undefined).then(() => this.sync(binding, session));
      binding.again = true;
      return binding.syncing;
    }
    const run = async (): Promise<void> => {
      do {
        binding.again = false;
        if (session === undefined || this.session !== session || this.queueName === undefined) return;
        const queue = this.queueName;
        if (binding.wanted && binding.state !== 'bound') {
          await session.channel.bindQueue(queue, binding.exchange, binding.pattern);
          if (this.session === session) binding.state = 'bound';
        } else if (!binding.wanted && binding.state !== 'unbound') {
          await session.channel.unbindQueue(queue, binding.exchange, binding.pattern);
          if (this.session === session) binding.state = 'unbound';
        }
      } while (binding.again);
    };
    const running = run().finally(() => {
      binding.syncing = undefined;
      binding.syncingOn = undefined;
      if (!binding.wanted && binding.state === 'unbound') this.forget(binding);
    });
    binding.syncing = running;
    binding.syncingOn = session;
    return running;
  }

  private forget(binding: RouteBinding): void {
    const id = `${binding.exchange}\n${binding.pattern}`;
    if (this.bindings.get(id) === binding) this.bindings.delete(id);
    this.wildcards.delete(binding);
  }

  /** Every binding whose broker state differs from local interest, a bounded number at a time. */
  private async restoreAll(session: AmqpSession): Promise<void> {
    const pending = [...this.bindings.values()].filter((b) => b.wanted !== (b.state === 'bound') || b.state === 'unknown');
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < pending.length && this.session === session) {
        const binding = pending[next++];
        if (binding.state === 'unknown') binding.state = binding.wanted ? 'unbound' : 'bound';
        await this.sync(binding, session);
      }
    };
    await Promise.all(Array.from({ length: Math.min(RESTORE_CONCURRENCY, pending.length) }, worker));
  }

  private async queueExists(session: AmqpSession, name: string): Promise<boolean> {
    // A passive declare of a missing queue closes the channel it runs on: use a throwaway one.
    const probe = await session.connection.createChannel();
    probe.on('error', () => undefined);
    try {
      await probe.checkQueue(name);
      return true;
    } catch {
      return false;
    } finally {
      await probe.close().catch(() => undefined);
    }
  }

  // --- deliveries ---

  private onDelivery(session: AmqpSession, msg: ConsumeMessage): void {
    if (this.session !== session) return; // its channel is gone: RabbitMQ requeues it
    const table = msg.properties.headers;
    const fence = table?.[FENCE_HEADER];
    if (fence !== undefined) {
      this.fenceArrived(String(fence));
    } else {
      this.dispatch(msg);
    }
    this.ackLater(session, msg);
  }

  private dispatch(msg: ConsumeMessage): void {
    const { exchange, routingKey } = msg.fields;
    const headers = messageHeaders(msg);
    delete headers[PUBLICATION_HEADER];
    // As the STOMP plugin marks every MESSAGE (true after a redelivery: a link that dropped).
    headers.redelivered = msg.fields.redelivered ? 'true' : 'false';
    const message: BrokerMessage = {
      destination: stompDestination(exchange, routingKey),
      headers,
      body: msg.content,
      messageId: `r${this.generation}-${msg.fields.deliveryTag}`,
    };
    // One Delivery for every local subscriber: the session layer encodes the MESSAGE once
    // (session/message-encoder.ts caches per Delivery's message; the contract pins the sharing).
    const delivery: Delivery = { message };
    const logger = this.options.logger;
    const exact = this.bindings.get(`${exchange}\n${routingKey}`);
    if (exact !== undefined) {
      for (const consumer of exact.consumers) if (consumer.active) deliverSafely(consumer.sink, delivery, logger);
    }
    if (exchange !== 'amq.topic' || this.wildcards.size === 0) return;
    for (const binding of this.wildcards) {
      if (binding === exact || !topicMatches(binding.pattern, routingKey)) continue;
      for (const consumer of binding.consumers) if (consumer.active) deliverSafely(consumer.sink, delivery, logger);
    }
  }

  /** Acks once per turn of the event loop, cumulatively: delivery happened synchronously above. */
  private ackLater(session: AmqpSession, msg: ConsumeMessage): void {
    this.ackPending = msg;
    if (this.ackScheduled) return;
    this.ackScheduled = true;
    setImmediate(() => {
      this.ackScheduled = false;
      const last = this.ackPending;
      this.ackPending = undefined;
      if (last === undefined || this.session !== session) return;
      try {
        session.channel.ack(last, true);
      } catch (err) {
        this.options.logger.debug({ err: (err as Error).message }, 'ack after the channel closed; RabbitMQ redelivers');
      }
    });
  }

  // --- fences ---

  private fence(): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, FENCE_TIMEOUT_MS);
      this.fenceWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
      if (this.fenceScheduled) return;
      this.fenceScheduled = true;
      // Joiners of this turn share one marker.
      setImmediate(() => this.sendFence());
    });
  }

  private sendFence(): void {
    this.fenceScheduled = false;
    const waiters = this.fenceWaiters;
    this.fenceWaiters = [];
    const session = this.session;
    if (session === undefined || this.queueName === undefined) {
      for (const done of waiters) done();
      return;
    }
    const token = String(++this.lastFence);
    this.fences.set(token, waiters);
    session.channel.publish('', this.queueName, EMPTY, { headers: { [FENCE_HEADER]: token } });
  }

  private fenceArrived(token: string): void {
    const waiters = this.fences.get(token);
    if (waiters === undefined) return;
    this.fences.delete(token);
    for (const done of waiters) done();
  }

  /** The markers went with the connection: nothing more from before them can arrive. */
  private releaseFences(): void {
    for (const waiters of this.fences.values()) for (const done of waiters) done();
    this.fences.clear();
  }

  private setReady(ready: boolean): void {
    if (ready === this.isReady) return;
    this.isReady = ready;
    this.options.onReadyChange(ready);
  }
}

const EMPTY = Buffer.alloc(0);
