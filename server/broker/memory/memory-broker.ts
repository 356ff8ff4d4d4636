/**
 * The embedded broker: what the relay uses when `BROKER_URL` is unset. One process, no
 * dependencies, nothing persisted; it mimics the RabbitMQ STOMP plugin's destinations closely
 * enough that the same contract suite (test/broker-suite/broker-contract.ts) passes on both.
 *
 * - `/topic/<key>`, `/exchange/<name>/<key>`: publish/subscribe, exact match on the whole
 *   destination, no wildcards (see {@link TopicRouter}).
 * - `/queue/<name>`, `/amq/queue/<name>` (one namespace): competing consumers, round-robin, ack
 *   modes, `prefetch-count`, requeue at the head on NACK or close (see {@link MessageQueue}); a
 *   NACK with `requeue: false` drops the message (no dead-lettering here).
 * - `/reply-queue/<name>` (SEND only): to the reply address called `name` (see
 *   {@link openReplyAddress}), else to the queue called `name` (RabbitMQ's default exchange), else
 *   dropped.
 * - Names reserved for the relay and RabbitMQ (reserved-names.ts) are refused, as on RabbitMQ.
 * - Anything else is refused with DESTINATION_NOT_ALLOWED.
 *
 * - Exclusive queues (`/queue/` with `exclusive:true`, or `durable:false`) belong to the
 *   subscriber's session, as on RabbitMQ (exclusive-queues.ts); durable topic subscriptions keep
 *   a buffer per user, destination and id (or per `x-queue-name`) while nobody consumes it.
 *
 * Other SUBSCRIBE headers (`selector`, `auto-delete`, `x-*`...) are accepted and ignored.
 * Deliveries run synchronously inside the call that causes them; see {@link DeliveryScheduler}.
 */
import { randomBytes } from 'node:crypto';
import {
  REPLY_QUEUE_NAME_PREFIX,
  type Broker,
  type BrokerMessage,
  type Consumer,
  type DeliverySink,
  type PublishOptions,
  type PublishRequest,
  type ReplyAddress,
  type SubscribeRequest,
} from '../broker';
import { headersExcept, type StompHeaders } from '../../codec/frame';
import { Errors, relayError, stacklessRelayError } from '../../errors';
import { silentLogger, type Logger } from '../../observability/logger';
import type { RelayMetrics } from '../../observability/metrics';
import { deliverSafely } from '../deliver-safely';
import { isTempQueue } from '../destinations';
import { parsePrefetchCount, publishHeaderRefusal } from '../header-values';
import { ReadySignal } from '../ready-signal';
import { reservedNameRefusal } from '../reserved-names';
import { asksDurable, engineDurableQueue, isExclusiveQueueRequest, resolveDurableTopic, stompBoolean } from '../subscription-flags';
import { DeliveryScheduler } from './delivery-scheduler';
import { ExclusiveQueues } from './exclusive-queues';
import { routeDestination, type RoutedDestination } from './destination';
import { MessageQueue } from './message-queue';
import { MemoryHistory } from './memory-history';
import type { HistoryOptions, MessageHistory } from '../history';
import { TopicRouter } from './topic-router';

export interface MemoryBrokerOptions {
  /**
   * Most messages one queue holds (ready plus unacked); beyond it publish rejects with BROKER_ERROR
   * "queue full". Also the most a client-ack topic subscription buffers (beyond it, it drops).
   * Default 10 000.
   */
  maxQueuedMessagesPerQueue?: number;
  logger?: Logger;
  /** Most deliveries made in one go before yielding to the event loop. Default 10 000. */
  maxDeliveriesPerTurn?: number;
  /** Message history for resume (memory-history.ts); none when absent or `windowMs` is 0. */
  history?: HistoryOptions;
  /** Where the engine reports its connection gauge (1 while it runs, as one in-process connection). */
  metrics?: RelayMetrics;
}

const DEFAULT_MAX_QUEUED = 10_000;
const DEFAULT_DELIVERIES_PER_TURN = 10_000;

/**
 * Publish headers the broker or the session owns, never carried to receivers: the session adds
 * `subscription`, `ack`, `message-id`, `destination` and `content-length` to each MESSAGE frame, the
 * broker sets `redelivered`, and `receipt` / `transaction` belong to the SEND frame.
 */
const NOT_CARRIED = new Set([
  'subscription',
  'ack',
  'message-id',
  'destination',
  'content-length',
  'redelivered',
  'receipt',
  'transaction',
]);

export class MemoryBroker implements Broker {
  readonly kind = 'memory' as const;
  readonly history?: MessageHistory;

  private running = false;
  private readonly readySignal: ReadySignal;
  private readonly metrics: RelayMetrics | undefined;
  private readonly queues = new Map<string, MessageQueue>();
  /** Open reply addresses by queue name (the part after `/reply-queue/`). */
  private readonly replies = new Map<string, DeliverySink>();
  private readonly scheduler: DeliveryScheduler;
  private readonly topics: TopicRouter;
  private readonly exclusive = new ExclusiveQueues();
  /** Owners for exclusive subscriptions that name no session: one each. */
  private lastAnonymousOwner = 0;
  private readonly logger: Logger;
  private readonly maxQueued: number;
  /** Sequence number of the last published message; also its message id. */
  private lastSequence = 0;

  constructor(options: MemoryBrokerOptions = {}) {
    if (options.history !== undefined && options.history.windowMs > 0) this.history = new MemoryHistory(options.history);
    this.maxQueued = positiveInteger('maxQueuedMessagesPerQueue', options.maxQueuedMessagesPerQueue, DEFAULT_MAX_QUEUED);
    const perTurn = positiveInteger('maxDeliveriesPerTurn', options.maxDeliveriesPerTurn, DEFAULT_DELIVERIES_PER_TURN);
    this.logger = options.logger ?? silentLogger();
    this.readySignal = new ReadySignal(this.logger);
    this.metrics = options.metrics;
    this.scheduler = new DeliveryScheduler(perTurn);
    this.topics = new TopicRouter(this.scheduler, this.logger, this.maxQueued);
  }

  get ready(): boolean {
    return this.running;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.emitReady();
  }

  /** Ends every consumer (their sinks are not told) and drops every queued message. Idempotent. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.topics.closeAll();
    for (const queue of this.queues.values()) queue.closeAll();
    this.queues.clear();
    this.exclusive.clear();
    this.replies.clear();
    this.scheduler.clear();
    this.emitReady();
  }

  onReadyChange(listener: (ready: boolean) => void): () => void {
    return this.readySignal.add(listener);
  }

  async subscribe(request: SubscribeRequest, sink: DeliverySink): Promise<Consumer> {
    const reserved = reservedNameRefusal('SUBSCRIBE', request.destination, request.headers);
    if (reserved) throw reserved;
    const route = this.route(request.destination);
    if (route.kind === 'reply')
      throw relayError(Errors.DESTINATION_NOT_ALLOWED, `${request.destination} (reply queues can only be sent to)`);
    const prefetch = parsePrefetchCount(request.headers['prefetch-count']);
    if (route.kind === 'topic') {
      // Durable: the user's own queue (subscription-flags.ts), or the one the client named.
      const resolved = resolveDurableTopic(request);
      const durable = asksDurable(resolved.headers) ? resolved.headers['x-queue-name'] : undefined;
      if (durable === undefined) return this.topics.subscribe(route.key, sink, request.ack, prefetch, this.lastSequence);
      const consumer = this.topics.subscribeDurable(durable, route.key, sink, request.ack, prefetch, this.lastSequence, {
        removable: engineDurableQueue(resolved) !== undefined,
        autoDelete: stompBoolean(resolved.headers['auto-delete']) !== false,
      });
      this.scheduler.runSoon(); // what waited for it goes out after this call, as for a queue
      return consumer;
    }
    // An exclusive queue belongs to its subscriber's session (exclusive-queues.ts).
    const owner = isExclusiveQueueRequest(request.destination, request.headers)
      ? (request.subscriber?.session ?? `subscription-${++this.lastAnonymousOwner}`)
      : undefined;
    this.exclusive.admit(request.destination, route.name, owner, this.queues.has(route.name));
    const onClosed = owner === undefined ? undefined : () => this.exclusiveClosed(owner);
    const consumer = this.queueNamed(route.name).addConsumer(sink, request.ack, prefetch, onClosed);
    // A backlog goes out on the next turn, not inside this call: the caller gets the Consumer (and
    // can send its RECEIPT) before the first MESSAGE, as with RabbitMQ. A publish in between still
    // queues behind the backlog, so order holds.
    this.scheduler.runSoon();
    return consumer;
  }

  /** Delivers to local sinks before resolving; `confirm` changes nothing here. */
  async publish(request: PublishRequest, options?: PublishOptions): Promise<void> {
    if (!this.publishNow(request, options?.mandatory === true)) throw stacklessRelayError(Errors.NO_ROUTE, request.destination);
  }

  /** {@link publish} with `mandatory`: false instead of NO_ROUTE (no error object for an offline user). */
  async publishMandatory(request: PublishRequest): Promise<boolean> {
    return this.publishNow(request, true);
  }

  /** The work of {@link publish}: false when `mandatory` and no subscription takes it (nothing sent). */
  private publishNow(request: PublishRequest, mandatory: boolean): boolean {
    const reserved = reservedNameRefusal('SEND', request.destination, request.headers);
    if (reserved) throw reserved;
    const route = this.route(request.destination);
    // As on RabbitMQ (the engines agree), and before a mandatory publish finds nobody to take it.
    const headerRefusal = publishHeaderRefusal(request.headers);
    if (headerRefusal) throw headerRefusal;
    if (mandatory && route.kind === 'topic' && !this.topics.has(route.key)) return false;
    const sequence = ++this.lastSequence;
    const message: BrokerMessage = {
      destination: request.destination,
      headers: carriedHeaders(request.headers),
      // A copy: the caller may reuse its buffer, and a queued message must not pin a socket chunk.
      body: Buffer.from(request.body),
      messageId: String(sequence),
    };
    if (route.kind === 'topic') {
      this.topics.publish(route.key, message, sequence);
    } else if (route.kind === 'reply') {
      this.reply(route.name, message);
    } else if (!this.queueNamed(route.name).offer(message)) {
      throw relayError(Errors.BROKER_ERROR, `queue full: ${request.destination} holds ${this.maxQueued} messages`);
    }
    this.scheduler.run();
    return true;
  }

  /** An in-process mailbox: `/reply-queue/<name>` reaches `sink` until the address is closed. */
  async openReplyAddress(sink: DeliverySink): Promise<ReplyAddress> {
    if (!this.running) throw relayError(Errors.BROKER_UNAVAILABLE, 'embedded broker is not running');
    const name = `${REPLY_QUEUE_NAME_PREFIX}${randomBytes(16).toString('base64url')}`;
    this.replies.set(name, sink);
    return {
      destination: `/reply-queue/${name}`,
      close: async () => {
        if (this.replies.get(name) === sink) this.replies.delete(name);
      },
    };
  }

  /** An exclusive subscription ended: once its session has none left, its exclusive queues go. */
  private exclusiveClosed(owner: string): void {
    for (const name of this.exclusive.closed(owner)) {
      const queue = this.queues.get(name);
      if (queue === undefined) continue;
      this.queues.delete(name);
      queue.closeAll();
    }
  }

  /** A SEND to `/reply-queue/<name>`; like RabbitMQ's default exchange, what has no queue is dropped. */
  private reply(name: string, message: BrokerMessage): void {
    if (this.replies.has(name)) {
      // Through the scheduler, so a reply sent from inside a delivery keeps its place in line.
      this.scheduler.enqueue({
        run: () => {
          const sink = this.replies.get(name);
          if (sink !== undefined) deliverSafely(sink, { message }, this.logger);
          return 1;
        },
      });
      return;
    }
    const queue = this.queues.get(name);
    if (queue !== undefined && !queue.offer(message)) {
      throw relayError(Errors.BROKER_ERROR, `queue full: /queue/${name} holds ${this.maxQueued} messages`);
    }
  }

  private route(destination: string): RoutedDestination {
    if (!this.running) throw relayError(Errors.BROKER_UNAVAILABLE, 'embedded broker is not running');
    const route = routeDestination(destination);
    if (route === undefined) {
      const why = isTempQueue(destination) ? ' (a temporary queue is no destination: name it in a reply-to, see openReplyAddress)' : '';
      throw relayError(Errors.DESTINATION_NOT_ALLOWED, destination + why);
    }
    return route;
  }

  /** The queue called `name`, created on first use and forgotten once empty with no consumer. */
  private queueNamed(name: string): MessageQueue {
    let queue = this.queues.get(name);
    if (queue === undefined) {
      queue = new MessageQueue(name, { limit: this.maxQueued, requeueRejected: true }, this.scheduler, this.logger, (idle) => {
        if (this.queues.get(idle.name) === idle) this.queues.delete(idle.name);
      });
      this.queues.set(name, queue);
    }
    return queue;
  }

  private emitReady(): void {
    // The embedded broker is one connection, in-process: open while it runs.
    this.metrics?.brokerConnected.set(this.running ? 1 : 0);
    this.readySignal.changed(this.running, this.running ? 'embedded broker ready' : 'embedded broker stopped');
  }
}

/**
 * What receivers see of a publisher's headers, plus `redelivered: false`: RabbitMQ's STOMP plugin
 * sends `redelivered` on every MESSAGE (topics and exchanges too, as each subscription is a queue),
 * and clients read it. A redelivery shows `true` instead (queue-consumer.ts).
 */
function carriedHeaders(source: Readonly<StompHeaders>): StompHeaders {
  const copy = headersExcept(source, NOT_CARRIED);
  copy.redelivered = 'false';
  return copy;
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) {
    throw relayError(Errors.INVALID_CONFIG, `MemoryBroker ${name} must be a whole number ≥ 1, got ${value}`);
  }
  return value;
}
