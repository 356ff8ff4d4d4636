/** What every session of a hub shares. Built once by {@link SessionHub}; internal to the session layer. */
import type { Broker } from '../broker/broker';
import type { RelayConfig } from '../config';
import type { Authenticator } from '../auth/authenticator';
import type { Authorize } from '../auth/authorization';
import type { RelayMetrics } from '../observability/metrics';
import type { Logger } from '../observability/logger';
import type { DestinationRouter } from './destination-router';
import type { DeadlineQueue } from './deadline-queue';
import type { HeartbeatWheel } from './heartbeat-timers';
import type { MessageEncoder } from './message-encoder';
import type { StringInterner } from './string-interner';
import type { StompSession } from './stomp-session';
import type { SubscriptionSummary } from './session-hub';

export interface SessionLifecycle {
  /** CONNECTED was sent. */
  connected(session: StompSession): void;
  /** The session stopped (ERROR, DISCONNECT or transport gone); its consumers are closing. */
  disconnected(session: StompSession): void;
  /** The transport reported close: nothing more will be written. */
  transportClosed(session: StompSession): void;
  /** A subscription took effect (before its RECEIPT). */
  subscribed(session: StompSession, subscription: SubscriptionSummary): void;
  /** A subscription that was announced ended: UNSUBSCRIBE, or the session ending (before `disconnected`). */
  unsubscribed(session: StompSession, subscription: SubscriptionSummary, reason: 'unsubscribe' | 'disconnect'): void;
}

export interface SessionDeps {
  readonly broker: Broker;
  readonly config: RelayConfig;
  readonly authenticator: Authenticator;
  /** Asked before every SUBSCRIBE and SEND; undefined allows everything the router allows. */
  readonly authorize: Authorize | undefined;
  readonly metrics: RelayMetrics;
  readonly logger: Logger;
  readonly router: DestinationRouter;
  readonly encoder: MessageEncoder;
  /** When sessions' credentials expire: one timer for the whole hub. */
  readonly expiries: DeadlineQueue;
  /** Every session's heart-beat clocks: one timer for the whole hub. */
  readonly heartbeats: HeartbeatWheel;
  /** CONNECTED `server` header, `stomp-relay/<version> (<instanceId>)`. */
  readonly serverHeader: string;
  readonly lifecycle: SessionLifecycle;
  /** `framesOut{command="MESSAGE"}` as a plain count (Metrics.messagesOut): the fan-out hot path skips prom-client's label hashing. */
  readonly messagesOut: { inc(): void };
  /** Shares the subscription ids and destinations every session keeps (string-interner.ts). */
  readonly strings: StringInterner;
}
