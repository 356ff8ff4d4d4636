/**
 * The RabbitMQ engine: relays destinations to RabbitMQ's STOMP plugin over a small pool of TCP
 * connections, whatever the number of clients.
 *
 * - At most `poolSize` connections; each broker subscription rides on the least-loaded one.
 * - Auto-ack subscriptions to the same topic/exchange destination with the same headers share one
 *   broker subscription; each message reaches their sinks as one Delivery object.
 * - Queue and client-ack subscriptions get a broker subscription each, so competing consumers,
 *   prefetch-count and redelivery behave as RabbitMQ defines.
 * - Connections are reopened with exponential backoff and jitter; live subscriptions are restored
 *   by the engine itself. `ready` is true while at least one connection is up. After an outage the
 *   verdicts of the probe connection are forgotten, restored subscriptions to risky destinations
 *   are verified again (a non-durable queue may be gone), and no connection takes more than its
 *   share of them while the others are coming back.
 * - Requests RabbitMQ might answer by closing the connection (missing queue or exchange, a queue
 *   redeclared differently, unparsable arguments) are first tried on a separate probe connection,
 *   outside the pool, and remembered for a while (destination-guard.ts): one bad client cannot cut
 *   the connections every other session shares. Cost: one or two extra round trips the first time
 *   a risky destination is used; safe ones (plain topics, built-in exchanges) pay nothing.
 * - Exclusive queues a client declares (RPC reply queues) ride on a connection of their session's
 *   own, outside the pool (exclusive-connections.ts); durable topic subscriptions are named after
 *   their user (subscription-flags.ts). Names reserved for the relay and RabbitMQ are refused
 *   before anything else (reserved-names.ts).
 * - Reply addresses (the relay's `/temp-queue/`) are exclusive auto-delete queues the engine names
 *   and consumes on one pooled connection; UNSUBSCRIBE deletes them. RabbitMQ's own temporary
 *   queues cannot be used: they live as long as the connection (UNSUBSCRIBE of `/temp-queue/` ids
 *   is refused), and the pool's connections live as long as the relay. A reply address is not
 *   restored after its connection drops: RabbitMQ may notice the drop after the engine does, and
 *   redeclaring the exclusive queue before that is answered RESOURCE_LOCKED and a closed (second)
 *   connection. Its sink is cancelled with BROKER_UNAVAILABLE instead.
 *
 * The guarantees are those of {@link Broker} (server/broker/broker.ts).
 */
import { randomBytes } from 'node:crypto';
import { headers as makeHeaders } from '../../codec/frame';
import { Errors, isRelayError, relayError, stacklessRelayError, type RelayError } from '../../errors';
import { DEFAULT_CONFIG, deriveAmqpEndpoints, type AmqpEndpoint, type BrokerEndpoint } from '../../config';
import { silentLogger, type Logger } from '../../observability/logger';
import type { HistoryOptions, MessageHistory } from '../history';
import type { RelayMetrics } from '../../observability/metrics';
import { ReadySignal } from '../ready-signal';
import {
  REPLY_QUEUE_NAME_PREFIX,
  type Broker,
  type CloseOptions,
  type Consumer,
  type Delivery,
  type DeliverySink,
  type PublishOptions,
  type PublishRequest,
  type ReplyAddress,
  type SubscribeRequest,
} from '../broker';
import { reservedNameRefusal } from '../reserved-names';
import { isExclusiveQueueRequest, resolveDurableTopic } from '../subscription-flags';
import { DEFAULT_BACKOFF, type BackoffOptions } from './backoff';
import { BrokerSubscription } from './broker-subscription';
import { ConnectionSlot, type SlotSubscription } from './connection-slot';
import { DestinationGuard, type DestinationGuardOptions } from './destination-guard';
import { ExclusiveConnections } from './exclusive-connections';
import { ProbeConnection } from './probe-connection';
import { RabbitConsumer } from './rabbit-consumer';
import { dependsOnBrokerState } from './request-risk';
import { sendHeaders, shareKey, unsubscribeHeaders } from './subscription-headers';
import { AmqpLink } from './amqp/amqp-link';
import { InstanceRoutes } from './amqp/instance-routes';
import { StreamHistory } from './amqp/stream-history';
import { routeOf } from './amqp/route-of';

export interface RabbitMqBrokerOptions {
  /**
   * Where RabbitMQ's STOMP plugin listens: the nodes of one cluster (parseBrokerUrls in
   * server/config.ts), over which the pool spreads (cluster-nodes.ts). Or give {@link endpoint}.
   */
  endpoints?: readonly BrokerEndpoint[];
  /** One node: the same as `endpoints: [endpoint]`. */
  endpoint?: BrokerEndpoint;
  /** Most TCP connections to RabbitMQ. Default 4. */
  poolSize?: number;
  /**
   * Heart-beat interval both ways on broker connections; 0 disables. A connection silent for twice
   * the interval is closed and reopened. Default 5000 ms (the relay's `BROKER_HEARTBEAT_MS`).
   */
  heartbeatMs?: number;
  /** Reconnect backoff. Default 200 ms doubling up to 10 s, with jitter. */
  reconnect?: BackoffOptions;
  /** Bound on connecting and logging in. Default 5000 ms. */
  connectTimeoutMs?: number;
  logger?: Logger;
  metrics?: RelayMetrics;
  /** How long verdicts of the probe connection are remembered; see destination-guard.ts. */
  verification?: DestinationGuardOptions;
  /** Most sessions with exclusive queues, one broker connection each (exclusive-connections.ts). Default 100. */
  maxExclusiveConnections?: number;
  /** User-destination and topic routes over AMQP 0-9-1 (amqp/instance-routes.ts). */
  routes?: RouteOptions;
  /** Message history for resume, in RabbitMQ streams; none when absent or `windowMs` is 0. */
  history?: RabbitHistoryOptions;
}

export interface RabbitHistoryOptions extends HistoryOptions {
  /** How many streams the users are spread over (`stomp-relay.history.<n>`). */
  partitions: number;
  /** Bound on one read of a stream, retries after a lost link included; a replay that needs longer is a gap. Default 10 000 ms. */
  scanTimeoutMs?: number;
}

export interface RouteOptions {
  /** RabbitMQ's AMQP listeners (nodes of one cluster). Default: the STOMP hosts and credentials on port 5672. */
  endpoints?: AmqpEndpoint[];
  /** Names this instance's route queue. Default: a random id. */
  instanceId?: string;
  /** How long the route queue outlives its instance (`x-expires`). Default 30 000 ms. */
  queueTtlMs?: number;
  /** Most messages the route queue holds for a stalled instance. Default 100 000. */
  maxQueuedMessages?: number;
  /** Unacked deliveries in flight on the route queue (what a dropped link can deliver twice). Default 500. */
  prefetch?: number;
}

/** How often one subscribe is retried on another connection when its connection drops mid-way. */
const SUBSCRIBE_ATTEMPTS = 3;
/**
 * After an outage, how long subscriptions left for connections that are not back yet wait before
 * they go to the open ones anyway (see {@link RabbitMqBroker.reattach}).
 */
const REBALANCE_WAIT_MS = 1000;
/** How long a restored subscription waits before its destination is verified again, when the probe connection could not answer. */
const REVERIFY_DELAY_MS = 1000;

export class RabbitMqBroker implements Broker {
  readonly kind = 'rabbitmq' as const;
  /** Resume history in RabbitMQ streams (amqp/stream-history.ts); absent when turned off. Rebuilt with the connections. */
  history?: MessageHistory;
  private streamHistory: StreamHistory | undefined;
  // The connections and what rides on them: built by assemble(), again for a start after stop.
  private slots!: ConnectionSlot[];
  /** Not in the pool: risky requests are tried here first (probe-connection.ts). */
  private probes!: ProbeConnection;
  private guard!: DestinationGuard;
  /** Sessions' own connections for their exclusive queues, outside the pool. */
  private exclusive!: ExclusiveConnections;
  private readonly logger: Logger;
  private readonly metrics: RelayMetrics | undefined;
  /** Every broker subscription that should exist, attached or waiting for a connection. */
  private readonly live = new Set<BrokerSubscription>();
  private readonly shared = new Map<string, BrokerSubscription>();
  /** The broker subscriptions behind reply addresses: cancelled, not restored, when their connection drops. */
  private readonly replyQueues = new WeakSet<BrokerSubscription>();
  private readonly readySignal: ReadySignal;
  /** Restored subscriptions whose destination is being verified again (see reattach). */
  private readonly verifying = new Set<BrokerSubscription>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private rebalanceTimer: NodeJS.Timeout | undefined;
  private readonly poolSize: number;
  /** More than one node: losing a connection may mean losing the queues of its node (cluster-nodes.ts). */
  private readonly clustered: boolean;
  private nextSubscriptionId = 0;
  /** The AMQP side: one connection, one route queue per instance (see amqp/instance-routes.ts). */
  private amqpLink!: AmqpLink;
  /** Times the AMQP link came up; every one after the first is a reconnect. */
  private amqpLinkUps = 0;
  private routes!: InstanceRoutes;
  private isReady = false;
  /** At least one pooled STOMP connection is open (ready also needs the routes). */
  private poolUp = false;
  private state: 'new' | 'started' | 'stopped' = 'new';

  constructor(options: RabbitMqBrokerOptions) {
    const poolSize = options.poolSize ?? DEFAULT_CONFIG.brokerPoolSize;
    if (!Number.isInteger(poolSize) || poolSize < 1)
      throw relayError(Errors.INVALID_CONFIG, `broker pool size must be a whole number ≥ 1, got ${poolSize}`);
    const heartbeatMs = options.heartbeatMs ?? DEFAULT_CONFIG.brokerHeartbeatMs;
    if (!(heartbeatMs >= 0)) throw relayError(Errors.INVALID_CONFIG, `broker heart-beat must be ≥ 0, got ${heartbeatMs}`);
    const backoff = options.reconnect ?? DEFAULT_BACKOFF;
    if (!(backoff.initialMs > 0) || !(backoff.maxMs >= backoff.initialMs)) {
      throw relayError(Errors.INVALID_CONFIG, 'broker reconnect needs 0 < initialMs ≤ maxMs');
    }
    const endpoints = options.endpoints ?? (options.endpoint ? [options.endpoint] : []);
    if (endpoints.length === 0) throw relayError(Errors.INVALID_CONFIG, 'the RabbitMQ engine needs at least one endpoint');
    this.poolSize = poolSize;
    this.clustered = endpoints.length > 1;
    this.logger = options.logger ?? silentLogger();
    this.readySignal = new ReadySignal(this.logger);
    this.metrics = options.metrics;
    const maxExclusive = options.maxExclusiveConnections ?? DEFAULT_CONFIG.brokerExclusiveConnections;
    if (!Number.isInteger(maxExclusive) || maxExclusive < 0)
      throw relayError(Errors.INVALID_CONFIG, `most exclusive-queue connections must be a whole number ≥ 0, got ${maxExclusive}`);
    // One instance id for the engine's lifetime, restarts included.
    const instanceId = options.routes?.instanceId ?? randomBytes(6).toString('hex');
    this.assemble = () => this.build(options, endpoints, heartbeatMs, backoff, maxExclusive, instanceId);
    this.assemble();
  }

  /** Builds a fresh set of connections (see {@link start}). */
  private readonly assemble: () => void;

  private build(
    options: RabbitMqBrokerOptions,
    endpoints: readonly BrokerEndpoint[],
    heartbeatMs: number,
    backoff: BackoffOptions,
    maxExclusive: number,
    instanceId: string,
  ): void {
    const poolSize = this.poolSize;
    const connectionOptions = { endpoints, heartbeatMs, connectTimeoutMs: options.connectTimeoutMs ?? 5000 };
    const events = {
      onUp: (slot: ConnectionSlot) => this.slotUp(slot),
      onDown: (slot: ConnectionSlot, orphans: SlotSubscription[], reason: RelayError) =>
        this.slotDown(slot, orphans as BrokerSubscription[], reason),
    };
    this.slots = Array.from({ length: poolSize }, (_, i) => new ConnectionSlot(i, connectionOptions, backoff, events, this.logger));
    // Its first node follows the pool's: with fewer nodes than connections, the least used one.
    this.probes = new ProbeConnection({
      connection: connectionOptions,
      firstNode: poolSize,
      timeoutMs: connectionOptions.connectTimeoutMs,
      maxQueued: 1000,
      logger: this.logger,
    });
    this.guard = new DestinationGuard(this.probes, options.verification);
    const historyOptions = options.history;
    if (historyOptions !== undefined && historyOptions.windowMs > 0) {
      this.streamHistory = new StreamHistory({ ...historyOptions, logger: this.logger, metrics: this.metrics });
      this.history = this.streamHistory;
    }
    const routeOptions = options.routes ?? {};
    this.amqpLink = new AmqpLink(
      {
        endpoints: routeOptions.endpoints ?? deriveAmqpEndpoints(endpoints),
        heartbeatMs,
        connectTimeoutMs: connectionOptions.connectTimeoutMs,
        backoff,
        logger: this.logger,
      },
      {
        up: (session) => {
          if (this.amqpLinkUps++ > 0) this.metrics?.brokerReconnects.inc({ link: 'amqp' });
          // The history's streams are declared beside the routes; they do not hold up readiness.
          this.streamHistory?.linkUp(session);
          return this.routes.linkUp(session);
        },
        down: () => {
          this.streamHistory?.linkDown();
          this.routes.linkDown();
        },
      },
    );
    this.routes = new InstanceRoutes({
      link: this.amqpLink,
      instanceId,
      queueTtlMs: routeOptions.queueTtlMs ?? DEFAULT_CONFIG.routeQueueTtlMs,
      maxQueuedMessages: routeOptions.maxQueuedMessages ?? 100_000,
      prefetch: routeOptions.prefetch ?? 500,
      logger: this.logger,
      onReadyChange: () => this.setReady(),
    });
    this.exclusive = new ExclusiveConnections({ connection: connectionOptions, maxConnections: maxExclusive, logger: this.logger });
  }

  get ready(): boolean {
    return this.isReady;
  }

  /** Name of this instance's route queue on RabbitMQ (undefined until the AMQP link first came up). */
  get routeQueue(): string | undefined {
    return this.routes.queue;
  }

  /** Open connections right now (at most the pool size). */
  get openConnections(): number {
    return this.slots.filter((s) => s.up).length;
  }

  /**
   * Pooled connections opened since start, reconnects included: more than the pool size means a
   * connection dropped (and subscriptions on it missed topic messages while it was down).
   */
  get connectionsOpened(): number {
    return this.slots.reduce((sum, s) => sum + s.opened, 0);
  }

  /**
   * Opens the pool. Resolves once every connection made its first attempt, so `ready` is already
   * true when RabbitMQ is reachable; when it is not, resolves anyway and keeps retrying.
   */
  async start(): Promise<void> {
    if (this.state === 'started') return;
    if (this.state === 'stopped') {
      // Started again after stop (the contract's rule, as the embedded broker): fresh connections,
      // no subscriptions (stop ended them).
      this.assemble();
      this.amqpLinkUps = 0;
    }
    this.state = 'started';
    await Promise.all([...this.slots.map((slot) => slot.start()), this.amqpLink.start()]);
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    clearTimeout(this.rebalanceTimer);
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    // Closing the connections ends every broker subscription and requeues unacked messages.
    for (const subscription of this.live) {
      subscription.ended = true;
      subscription.detach();
    }
    this.live.clear();
    this.shared.clear();
    this.routes.stop();
    this.streamHistory?.stop();
    await Promise.all([...this.slots.map((slot) => slot.stop()), this.probes.stop(), this.exclusive.stop(), this.amqpLink.stop()]);
    this.setReady();
  }

  onReadyChange(listener: (ready: boolean) => void): () => void {
    return this.readySignal.add(listener);
  }

  /**
   * Risky requests (request-risk.ts) are tried on the probe connection first, so a request that
   * RabbitMQ answers by closing the connection never reaches a shared one.
   */
  async subscribe(request: SubscribeRequest, sink: DeliverySink): Promise<Consumer> {
    this.assertReady();
    const reserved = reservedNameRefusal('SUBSCRIBE', request.destination, request.headers);
    if (reserved) throw reserved;
    // A durable topic subscription gets its user's queue (subscription-flags.ts).
    const resolved = resolveDurableTopic(request);
    if (isExclusiveQueueRequest(resolved.destination, resolved.headers)) return this.exclusive.subscribe(resolved, sink);
    // Plain auto-ack topic and user-destination subscriptions: a binding on the route queue.
    const route = routeOf(resolved);
    if (route !== undefined) return this.routes.subscribe(route.exchange, route.key, sink);
    const releaseProbe = await this.guard.checkSubscribe(resolved);
    try {
      return await this.subscribeVerified(resolved, sink);
    } catch (err) {
      if (isRelayError(err) && err.code !== 'BROKER_UNAVAILABLE') this.guard.forgetSubscribe(resolved);
      throw err;
    } finally {
      // Awaited: until the probe lets go, its own subscription could take (and later requeue, out of
      // order) a message published right after this subscribe resolves.
      await releaseProbe().catch((err: unknown) => this.logger.debug({ err }, 'probe release failed'));
    }
  }

  private async subscribeVerified(request: SubscribeRequest, sink: DeliverySink, replyQueue = false): Promise<Consumer> {
    const key = replyQueue ? undefined : shareKey(request);
    let subscription = key === undefined ? undefined : this.shared.get(key);
    const joining = subscription !== undefined;
    if (!subscription) {
      subscription = new BrokerSubscription(request, key, (s, reason) => this.cancelled(s, reason), this.logger);
      if (key !== undefined) this.shared.set(key, subscription);
      if (replyQueue) this.replyQueues.add(subscription);
      this.live.add(subscription);
      // A reply queue is not retried on another connection under the same name (see the file comment).
      subscription.firstAttach = this.attachFirst(subscription, replyQueue ? 1 : SUBSCRIBE_ATTEMPTS);
    }
    const consumer = new RabbitConsumer(
      { release: (c, options) => this.release(subscription, c, options) },
      sink,
      request.ack,
      this.logger,
    );
    // Joined before RabbitMQ confirms, so a shared subscription is never ended under a waiting joiner.
    subscription.consumers.add(consumer);
    // A new broker subscription's first messages may come before its RECEIPT (queues: they must
    // not be lost); a joiner of a shared one waits for the fence (no messages from before it came).
    if (!joining) consumer.activate();
    try {
      await subscription.firstAttach;
      if (joining) await subscription.fence();
    } catch (err) {
      subscription.consumers.delete(consumer);
      throw err;
    }
    if (joining) consumer.activate();
    return consumer;
  }

  async publish(request: PublishRequest, options: PublishOptions = {}): Promise<void> {
    if (!(await this.send(request, options))) throw stacklessRelayError(Errors.NO_ROUTE, request.destination);
  }

  /** {@link publish} with `mandatory`: false instead of NO_ROUTE, from the same basic.return. */
  publishMandatory(request: PublishRequest, options: Pick<PublishOptions, 'confirm'> = {}): Promise<boolean> {
    return this.send(request, { confirm: options.confirm, mandatory: true });
  }

  /** The work of {@link publish}: false when `mandatory` and RabbitMQ returned the message unroutable. */
  private async send(request: PublishRequest, options: PublishOptions): Promise<boolean> {
    this.assertReady();
    const reserved = reservedNameRefusal('SEND', request.destination, request.headers);
    if (reserved) throw reserved;
    // Before either way out: a header RabbitMQ would refuse (a bad `expiration`, say) is one
    // refusal here, not a channel error on the AMQP link that every user push shares.
    const verifying = this.guard.checkPublish(request.destination, request.headers);
    if (options.mandatory) {
      // Over AMQP: only a mandatory publish with confirms tells whether any queue took it.
      const route = routeOf({ destination: request.destination, ack: 'auto', headers: EMPTY_HEADERS });
      if (route !== undefined) {
        // Route destinations (topics, built-in exchanges) are never probed: only refused or not.
        if (verifying) await verifying;
        return this.routes.publish(route.exchange, route.key, request.headers, request.body);
      }
    }
    // Another way for the message (a queue exclusive to another connection: destination-guard.ts).
    const destination = (verifying ? await verifying : undefined) ?? request.destination;
    const slot = this.slotFor(request.destination);
    const connection = slot?.connection;
    if (!connection) throw relayError(Errors.BROKER_UNAVAILABLE, 'no open connection to RabbitMQ');
    // sendHeaders already builds a fresh header object: no second copy through makeFrame.
    const frame = { command: 'SEND', headers: sendHeaders(destination, request.headers), body: request.body };
    try {
      if (options.confirm) await connection.request(frame);
      else await connection.write(frame);
    } catch (err) {
      if (!isRelayError(err) || err.code !== 'BROKER_UNAVAILABLE') this.guard.forgetPublish(request.destination, request.headers);
      throw isRelayError(err) ? err : relayError(Errors.BROKER_ERROR, String(err));
    }
    return true;
  }

  /**
   * A reply address: an exclusive, auto-delete queue declared by SUBSCRIBE on a pooled connection.
   * Exclusive, so no other connection can consume (or redeclare) it; its name is reserved, so no
   * client request reaches it but a SEND to `/reply-queue/<name>`. Not probed: the name is fresh
   * and the flags are the engine's own.
   */
  async openReplyAddress(sink: DeliverySink): Promise<ReplyAddress> {
    for (let attempt = 1; ; attempt++) {
      this.assertReady();
      try {
        return await this.openReplyQueue(sink);
      } catch (err) {
        // Its connection dropped mid-way: try again under a fresh name (see the file comment).
        if (attempt >= SUBSCRIBE_ATTEMPTS || !isRelayError(err) || err.code !== 'BROKER_UNAVAILABLE') throw err;
      }
    }
  }

  private async openReplyQueue(sink: DeliverySink): Promise<ReplyAddress> {
    const name = `${REPLY_QUEUE_NAME_PREFIX}${randomBytes(16).toString('base64url')}`;
    const destination = `/reply-queue/${name}`;
    const request: SubscribeRequest = {
      destination: `/queue/${name}`,
      ack: 'auto',
      headers: makeHeaders({ durable: 'false', 'auto-delete': 'true', exclusive: 'true' }),
    };
    // RabbitMQ reports `/queue/<name>`; receivers see the address they were given.
    const addressed: DeliverySink = {
      deliver: (delivery: Delivery) => sink.deliver({ message: { ...delivery.message, destination } }),
      cancelled: (reason: RelayError) => sink.cancelled(reason),
    };
    const consumer = await this.subscribeVerified(request, addressed, true);
    return { destination, close: () => consumer.close() };
  }

  private assertReady(): void {
    if (this.state === 'stopped') throw relayError(Errors.BROKER_UNAVAILABLE, 'the relay is stopping');
    if (this.state === 'new') throw relayError(Errors.BROKER_UNAVAILABLE, 'the broker engine is not started');
    if (!this.isReady) throw relayError(Errors.BROKER_UNAVAILABLE, 'no connection to RabbitMQ; retrying');
  }

  /** First subscribe: retried on another connection if its connection drops before the RECEIPT. */
  private async attachFirst(subscription: BrokerSubscription, attempts: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const slot = this.leastLoaded();
      try {
        if (!slot) throw relayError(Errors.BROKER_UNAVAILABLE, 'no connection to RabbitMQ; retrying');
        await subscription.attach(slot, this.newSubscriptionId());
        return;
      } catch (err) {
        const unavailable = isRelayError(err) && err.code === 'BROKER_UNAVAILABLE';
        if (unavailable && attempt < attempts && this.poolUp && !subscription.ended) continue;
        this.forget(subscription);
        throw isRelayError(err) ? err : relayError(Errors.BROKER_ERROR, String(err));
      }
    }
  }

  /**
   * Puts subscriptions that lost their connection back on an open one.
   *
   * With `balanced` (after an outage, as connections come back one by one) no connection takes
   * more than its share, ceil(live / poolSize): the rest wait for the next connection to come up,
   * or {@link REBALANCE_WAIT_MS} at most, else every restored subscription would stay on the
   * first connection back for good.
   *
   * Subscriptions whose destination depends on what exists on the broker (request-risk.ts) are
   * verified again first: a non-durable queue may have vanished with the outage, and subscribing
   * to it on a pooled connection would cut every other subscription on it.
   */
  private reattach(orphans: Iterable<BrokerSubscription>, balanced = false): void {
    for (const subscription of orphans) {
      if (!this.restorable(subscription) || this.verifying.has(subscription)) continue;
      const slot = this.placeFor(balanced);
      if (slot === undefined) return; // the next connection to come up takes them
      if (slot === 'full') continue;
      if (dependsOnBrokerState(subscription.request, this.clustered)) this.verifyThenAttach(subscription, balanced);
      else void this.attachOrphan(subscription, slot);
    }
  }

  /**
   * The connection a restored subscription goes to: the least loaded open one; undefined when
   * none is open; 'full' when `balanced` and it already has its share (then a rebalance is due).
   */
  private placeFor(balanced: boolean): ConnectionSlot | 'full' | undefined {
    const slot = this.leastLoaded();
    if (!slot || !balanced || slot.subscriptions.size < Math.ceil(this.live.size / this.poolSize)) return slot;
    if (this.rebalanceTimer === undefined) {
      this.rebalanceTimer = setTimeout(() => {
        this.rebalanceTimer = undefined;
        if (this.state === 'started') this.reattach(this.live);
      }, REBALANCE_WAIT_MS);
    }
    return 'full';
  }

  /** Confirmed, not reply queues (never restored: see the file comment), not attached, still wanted. */
  private restorable(subscription: BrokerSubscription): boolean {
    // Unconfirmed ones are still in attachFirst, which retries (or fails) them itself.
    return (
      this.state === 'started' &&
      !this.replyQueues.has(subscription) &&
      !subscription.ended &&
      !subscription.attached &&
      subscription.confirmed &&
      this.live.has(subscription)
    );
  }

  private attachOrphan(subscription: BrokerSubscription, slot: ConnectionSlot): Promise<void> {
    return subscription.attach(slot, this.newSubscriptionId()).catch((err: unknown) => {
      if (isRelayError(err) && err.code === 'BROKER_UNAVAILABLE') {
        if (this.poolUp) this.reattach([subscription]);
        return;
      }
      this.cancelled(subscription, isRelayError(err) ? err : relayError(Errors.BROKER_ERROR, String(err)));
    });
  }

  /** Verifies a restored subscription's destination on the probe connection, then attaches it. */
  private verifyThenAttach(subscription: BrokerSubscription, balanced: boolean): void {
    this.verifying.add(subscription);
    Promise.resolve(this.guard.checkSubscribe(subscription.request)).then(
      (releaseProbe) => {
        this.verifying.delete(subscription);
        const slot = this.restorable(subscription) ? this.placeFor(balanced) : undefined;
        // No room: the next connection to come up, or the rebalance, takes it (verified again, from the cache).
        const attached = slot !== undefined && slot !== 'full' ? this.attachOrphan(subscription, slot) : Promise.resolve();
        void attached.finally(() => releaseProbe());
      },
      (err: unknown) => {
        this.verifying.delete(subscription);
        if (isRelayError(err) && err.code === 'BROKER_UNAVAILABLE') {
          // Nothing known about the destination: try again shortly rather than risk the pool.
          const timer = setTimeout(() => {
            this.timers.delete(timer);
            if (this.poolUp) this.reattach([subscription]);
          }, REVERIFY_DELAY_MS);
          this.timers.add(timer);
          return;
        }
        this.cancelled(subscription, isRelayError(err) ? err : relayError(Errors.BROKER_ERROR, String(err)));
      },
    );
  }

  private release(subscription: BrokerSubscription, consumer: RabbitConsumer, options?: CloseOptions): Promise<void> {
    subscription.consumers.delete(consumer);
    if (subscription.consumers.size > 0 || subscription.ended) return Promise.resolve();
    this.forget(subscription);
    const removal = unsubscribeHeaders(subscription.request, options);
    return subscription.end(removal).then((said) => {
      if (!said && removal)
        this.logger.warn(
          { destination: subscription.request.destination },
          'a durable subscription ended while its connection was down; its queue stays',
        );
    });
  }

  /** RabbitMQ ended a subscription by itself: its consumers' sinks are told. */
  private cancelled(subscription: BrokerSubscription, reason: RelayError): void {
    if (!this.live.has(subscription)) return;
    subscription.ended = true;
    this.forget(subscription);
    this.logger.warn({ destination: subscription.request.destination, reason: reason.message }, 'broker cancelled a subscription');
    for (const consumer of subscription.consumers) {
      void consumer.close();
      try {
        consumer.sink.cancelled(reason);
      } catch (err) {
        this.logger.error({ err }, 'sink.cancelled threw');
      }
    }
  }

  private forget(subscription: BrokerSubscription): void {
    this.live.delete(subscription);
    if (subscription.shareKey !== undefined && this.shared.get(subscription.shareKey) === subscription) {
      this.shared.delete(subscription.shareKey);
    }
  }

  private slotUp(slot: ConnectionSlot): void {
    if (slot.opened > 1) this.metrics?.brokerReconnects.inc({ link: 'stomp' });
    // RabbitMQ is reachable again: the other connections need not sit out their backoff.
    for (const other of this.slots) if (other !== slot) other.retryNow();
    this.amqpLink.retryNow();
    this.setReady();
    this.reattach(this.live, true);
  }

  private slotDown(_slot: ConnectionSlot, orphans: BrokerSubscription[], reason: RelayError): void {
    for (const subscription of orphans) subscription.detach();
    // Its node may be down, and the classic queues it hosts with it: what was verified is stale.
    if (this.clustered) this.guard.clear();
    this.setReady();
    const restorable: BrokerSubscription[] = [];
    for (const subscription of orphans) {
      // RabbitMQ deletes an exclusive queue with its connection; confirmed ones only (attachFirst
      // reports the others to their caller).
      if (this.replyQueues.has(subscription)) {
        if (subscription.confirmed)
          this.cancelled(
            subscription,
            relayError(
              Errors.BROKER_UNAVAILABLE,
              `the broker connection of reply address ${subscription.request.destination} dropped (${reason.message})`,
            ),
          );
      } else {
        restorable.push(subscription);
      }
    }
    this.reattach(restorable);
  }

  /** The open connection with the fewest subscriptions. */
  private leastLoaded(): ConnectionSlot | undefined {
    let best: ConnectionSlot | undefined;
    for (const slot of this.slots) {
      if (slot.up && (!best || slot.subscriptions.size < best.subscriptions.size)) best = slot;
    }
    return best;
  }

  /**
   * The connection a destination's messages are published on: always the same one while it is
   * up, so one caller's messages to one destination keep their order.
   */
  private slotFor(destination: string): ConnectionSlot | undefined {
    let hash = 0;
    for (let i = 0; i < destination.length; i++) hash = (hash * 31 + destination.charCodeAt(i)) | 0;
    const start = Math.abs(hash) % this.slots.length;
    for (let i = 0; i < this.slots.length; i++) {
      const slot = this.slots[(start + i) % this.slots.length];
      if (slot.up) return slot;
    }
    return undefined;
  }

  private newSubscriptionId(): string {
    return `s${++this.nextSubscriptionId}`;
  }

  private setReady(): void {
    const open = this.state === 'stopped' ? 0 : this.openConnections;
    this.metrics?.brokerConnected.set(open);
    const poolUp = open > 0;
    if (poolUp !== this.poolUp) {
      this.poolUp = poolUp;
      // What was verified before an outage may be gone after it (non-durable queues, exchanges):
      // forgotten before the first restored subscription reaches the connection that came back.
      if (poolUp) this.guard.clear();
    }
    // Ready only with the routes in place too: until then a push could reach no one (docs/architecture.md).
    const ready = poolUp && this.routes.ready;
    if (ready === this.isReady) return;
    this.isReady = ready;
    // Not ready because we stopped is no news about RabbitMQ.
    const news = ready
      ? 'RabbitMQ is reachable'
      : this.state === 'stopped'
        ? 'RabbitMQ connections closed (stopping)'
        : 'RabbitMQ is unreachable';
    this.readySignal.changed(ready, news);
  }
}

const EMPTY_HEADERS = Object.freeze(Object.create(null)) as Readonly<Record<string, string>>;
