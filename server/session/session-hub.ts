/**
 * All STOMP sessions of one relay instance. The transport adapters hand each new connection to
 * {@link SessionHub.accept}; everything else (user destinations, presence, the push API, shutdown)
 * finds sessions here. One hub per relay, never a module-global map.
 */
import type { AckMode, Broker } from '../broker/broker';
import type { RelayConfig } from '../config';
import type { Authenticator } from '../auth/authenticator';
import type { Authorize } from '../auth/authorization';
import { Errors, relayError, type RelayError } from '../errors';
import type { Logger } from '../observability/logger';
import type { RelayMetrics } from '../observability/metrics';
import type { Transport } from '../transport/transport';
import { PrefixRouter, type DestinationRouter } from './destination-router';
import { DeadlineQueue } from './deadline-queue';
import { HeartbeatWheel } from './heartbeat-timers';
import { MessageEncoder } from './message-encoder';
import { StringInterner } from './string-interner';
import { PACKAGE_VERSION } from '../package-info';
import type { SessionDeps, SessionLifecycle } from './session-deps';
import { StompSession } from './stomp-session';

export interface SessionHubOptions {
  broker: Broker;
  config: RelayConfig;
  authenticator: Authenticator;
  /** Decides on every SUBSCRIBE and SEND (default: whatever the router allows is allowed). */
  authorize?: Authorize;
  metrics: RelayMetrics;
  logger: Logger;
  /** Default: a {@link PrefixRouter} over `config.relayPrefixes`. */
  router?: DestinationRouter;
  /** Default: a fresh encoder. Tests pass one with a counting template factory. */
  encoder?: MessageEncoder;
  /** Default: a fresh queue on the real clock. Tests pass one on a clock they move. */
  expiries?: DeadlineQueue;
  /** Default: a fresh wheel on the real clock, ticking for the finest interval the config allows. */
  heartbeats?: HeartbeatWheel;
}

/** A subscription as lifecycle events name it: its id, the destination as the client sent it, its ack mode. */
export interface SubscriptionSummary {
  readonly id: string;
  readonly destination: string;
  readonly ack: AckMode;
}

/** What the hub tells its listeners (see session-events.ts for the order and pairing). */
export type SessionEvent =
  | { type: 'connected' | 'disconnected'; session: StompSession }
  | { type: 'subscribed'; session: StompSession; subscription: SubscriptionSummary }
  | { type: 'unsubscribed'; session: StompSession; subscription: SubscriptionSummary; reason: 'unsubscribe' | 'disconnect' };

export interface DrainOptions {
  /** Sessions told to go per batch (default 100). */
  batchSize?: number;
  /** Pause between batches (default 50 ms), so clients do not all reconnect in the same instant. */
  pauseMs?: number;
  /** Total time to wait for sessions to flush and close (default config.shutdownGraceMs). */
  deadlineMs?: number;
}

export class SessionHub {
  private readonly deps: SessionDeps;
  /** Sessions whose transport has not reported close yet. */
  private readonly live = new Map<string, StompSession>();
  /**
   * Connected sessions by principal name: the session itself while it is the user's only one (most
   * users), a Set from the second on (a Set of one costs ~150 bytes, per idle user).
   */
  private readonly byUser = new Map<string, StompSession | Set<StompSession>>();
  /** Counts changes of {@link byUser} (see {@link userCountsVersion}). */
  private userChanges = 0;
  private readonly listeners = new Set<(event: SessionEvent) => void>();
  private readonly emptyWaiters = new Set<() => void>();
  private draining = false;

  constructor(options: SessionHubOptions) {
    const lifecycle: SessionLifecycle = {
      connected: (session) => this.onConnected(session),
      disconnected: (session) => this.onDisconnected(session),
      transportClosed: (session) => this.onTransportClosed(session),
      subscribed: (session, subscription) => this.emit({ type: 'subscribed', session, subscription }),
      unsubscribed: (session, subscription, reason) => this.emit({ type: 'unsubscribed', session, subscription, reason }),
    };
    this.deps = Object.freeze({
      broker: options.broker,
      config: options.config,
      authenticator: options.authenticator,
      authorize: options.authorize,
      metrics: options.metrics,
      logger: options.logger,
      router: options.router ?? new PrefixRouter(options.config.relayPrefixes),
      encoder: options.encoder ?? new MessageEncoder(),
      expiries:
        options.expiries ??
        new DeadlineQueue({
          onError: (err) => options.logger.error({ err }, 'ending a session whose token expired threw'),
        }),
      heartbeats:
        options.heartbeats ??
        new HeartbeatWheel({
          finestIntervalMs: finestHeartbeatMs(options.config),
          onError: (err) => options.logger.error({ err }, 'a heart-beat callback threw'),
        }),
      // STOMP 1.2 §CONNECTED: name/version, then free comments: which instance answered helps operators.
      serverHeader: `stomp-relay/${PACKAGE_VERSION} (${options.config.instanceId})`,
      lifecycle,
      messagesOut: options.metrics.messagesOut,
      strings: new StringInterner(),
    });
  }

  /** Starts a session on `transport`; it lives until the transport closes. While draining, it is told to go at once. */
  accept(transport: Transport): StompSession {
    const session = new StompSession(transport, this.deps);
    // A transport already closed reports it while the session binds to it, inside the constructor,
    // before there is an entry here to remove: an entry made now would never go (and hold a drain).
    if (session.state !== 'closed') this.live.set(session.id, session);
    if (this.draining) session.close(relayError(Errors.SHUTTING_DOWN));
    return session;
  }

  /** Sessions whose transport is still open (connected or not yet). */
  get size(): number {
    return this.live.size;
  }

  sessions(): Iterable<StompSession> {
    return this.live.values();
  }

  /** Connected sessions of user `name` on this instance (an index lookup, not a scan). */
  userSessionCount(name: string): number {
    return sizeOf(this.byUser.get(name));
  }

  /**
   * Changes whenever {@link userCounts} would answer differently (presence sends an unchanged
   * snapshot again without building it).
   */
  get userCountsVersion(): number {
    return this.userChanges;
  }

  /** Connected sessions per user on this instance. */
  userCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const [name, sessions] of this.byUser) counts.set(name, sizeOf(sessions));
    return counts;
  }

  /** Connected sessions of the user named `name` (empty for none). */
  sessionsOfUser(name: string): StompSession[] {
    const sessions = this.byUser.get(name);
    if (sessions === undefined) return [];
    return sessions instanceof Set ? [...sessions] : [sessions];
  }

  /**
   * Ends every connected session of `name` on this instance with `error` (an ERROR frame, then
   * close). Returns how many were ended.
   */
  endUserSessions(name: string, error: () => RelayError): number {
    const sessions = this.sessionsOfUser(name);
    for (const session of sessions) session.close(error());
    return sessions.length;
  }

  /**
   * Calls `listener` when a session connects (CONNECTED sent), subscribes, unsubscribes or ends
   * (session-events.ts has the order). Returns an unsubscribe function.
   */
  onSessionEvent(listener: (event: SessionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /**
   * Graceful shutdown: stop accepting, send every session ERROR SHUTTING_DOWN in batches of
   * `batchSize` with `pauseMs` between (avoiding a reconnect storm on the other instances), then wait
   * up to the deadline for the transports to flush and close. Resolves when all closed or at the
   * deadline, whichever comes first.
   */
  async drain(options: DrainOptions = {}): Promise<void> {
    this.draining = true;
    const batchSize = Math.max(1, options.batchSize ?? 100);
    const pauseMs = Math.max(0, options.pauseMs ?? 50);
    const deadline = Date.now() + (options.deadlineMs ?? this.deps.config.shutdownGraceMs);
    const goodbye = () => relayError(Errors.SHUTTING_DOWN);

    const pending = [...this.live.values()];
    for (let i = 0; i < pending.length; i += batchSize) {
      if (i > 0) {
        // Past the deadline, the rest go at once.
        const left = deadline - Date.now();
        if (left > 0) await delay(Math.min(pauseMs, left));
      }
      for (const session of pending.slice(i, i + batchSize)) session.shutdown(goodbye(), deadline - Date.now());
    }
    await this.whenEmpty(deadline - Date.now());
  }

  private whenEmpty(timeoutMs: number): Promise<void> {
    if (this.live.size === 0 || timeoutMs <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.emptyWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.emptyWaiters.add(done);
    });
  }

  private onConnected(session: StompSession): void {
    const name = session.principal?.name;
    if (name !== undefined) {
      this.userChanges++;
      const sessions = this.byUser.get(name);
      if (sessions === undefined) this.byUser.set(name, session);
      else if (sessions instanceof Set) sessions.add(session);
      else if (sessions !== session) this.byUser.set(name, new Set([sessions, session]));
    }
    this.emit({ type: 'connected', session });
  }

  private onDisconnected(session: StompSession): void {
    const name = session.principal?.name;
    if (name !== undefined) {
      this.userChanges++;
      const sessions = this.byUser.get(name);
      if (sessions === session) this.byUser.delete(name);
      else if (sessions instanceof Set && sessions.delete(session) && sessions.size === 0) this.byUser.delete(name);
    }
    this.emit({ type: 'disconnected', session });
  }

  private onTransportClosed(session: StompSession): void {
    this.live.delete(session.id);
    if (this.live.size === 0) for (const waiter of [...this.emptyWaiters]) waiter();
  }

  private emit(event: SessionEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        // A listener's bug must not break the session that triggered the event.
        this.deps.logger.error({ err, event: event.type }, 'session event listener threw');
      }
    }
  }
}

/** How many sessions a {@link SessionHub} `byUser` entry holds. */
function sizeOf(sessions: StompSession | Set<StompSession> | undefined): number {
  if (sessions === undefined) return 0;
  return sessions instanceof Set ? sessions.size : 1;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The finest heart-beat interval a session of this config may get: negotiation (negotiation.ts)
 * never goes below the smallest of the floor and the server's own intervals.
 */
function finestHeartbeatMs(config: RelayConfig): number {
  const { sendMs, receiveMs, minMs } = config.heartbeat;
  return Math.min(minMs, ...[sendMs, receiveMs].filter((ms) => ms > 0));
}
