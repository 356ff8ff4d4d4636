/**
 * Session events, the typed public face of the hub's lifecycle notifications (Spring's
 * `SessionConnectedEvent`, `SessionDisconnectEvent`, `SessionSubscribeEvent`,
 * `SessionUnsubscribeEvent`). Presence listens through this same mechanism.
 *
 * ```ts
 * relay.on('session:subscribe', ({ user, destination }) => rooms.join(destination, user));
 * relay.on('session:unsubscribe', ({ user, destination }) => rooms.leave(destination, user));
 * ```
 *
 * Order and pairing, per session: `session:connect` once CONNECTED is on its way; each
 * `session:subscribe` once the subscription is in effect (before its RECEIPT; never for a refused
 * SUBSCRIBE), followed by exactly one `session:unsubscribe` (`reason: 'unsubscribe'` on UNSUBSCRIBE,
 * `'disconnect'` for what the session still held when it ended); `session:disconnect` last, for
 * every session that connected, however it ended. Listeners run synchronously on the session's
 * path: keep them short. One that throws, or returns a promise that rejects, is logged and
 * disturbs nothing.
 */
import type { AckMode } from '../broker/broker';
import type { Principal } from '../auth/authenticator';
import { Errors, relayError } from '../errors';
import type { Logger } from '../observability/logger';
import type { TransportKind } from '../transport/transport';
import type { SessionEvent, SessionHub } from './session-hub';

/** Who a session event is about. */
export interface SessionInfo {
  /** The session's id (CONNECTED `session`). */
  readonly sessionId: string;
  /** The user name, or null for an anonymous session. */
  readonly user: string | null;
  /** The principal with its claims (a frozen copy), or null for an anonymous session. */
  readonly principal: Readonly<Principal> | null;
  /** What carries the session: `ws` or `sockjs`. */
  readonly transport: TransportKind;
}

/** A subscription of a session. */
export interface SubscriptionInfo extends SessionInfo {
  /** The client's subscription id. */
  readonly subscriptionId: string;
  /** The destination as the client sent it (`/user/queue/x`, `/topic/chat`, `/app/snapshot/1`). */
  readonly destination: string;
  /** The subscription's ack mode (`auto`, `client`, `client-individual`). */
  readonly ack: AckMode;
}

/** Why a subscription ended: an UNSUBSCRIBE, or the end of the session that held it. */
export type UnsubscribeReason = 'unsubscribe' | 'disconnect';

/** Every event `relay.on` takes, and what its listeners receive. */
export interface RelaySessionEvents {
  /** A session authenticated and is being sent CONNECTED. */
  'session:connect': SessionInfo;
  /** A session that connected ended, however it ended (last of its events). */
  'session:disconnect': SessionInfo;
  /** A subscription is in effect (before its RECEIPT; never for a refused SUBSCRIBE). */
  'session:subscribe': SubscriptionInfo;
  /** A subscription ended: `reason` says whether by UNSUBSCRIBE or with its session. */
  'session:unsubscribe': SubscriptionInfo & {
    /** `unsubscribe` for an UNSUBSCRIBE, `disconnect` for what the session still held when it ended. */
    readonly reason: UnsubscribeReason;
  };
}

/** The events {@link Relay.on} takes: `session:connect`, `session:disconnect`, `session:subscribe`, `session:unsubscribe`. */
export type RelaySessionEventName = keyof RelaySessionEvents;

/** A listener of event `E`: runs synchronously on the session's path; a throw or a rejection is logged and changes nothing. */
export type SessionEventListener<E extends RelaySessionEventName> = (event: RelaySessionEvents[E]) => void | Promise<void>;

const NAMES: Readonly<Record<SessionEvent['type'], RelaySessionEventName>> = {
  connected: 'session:connect',
  disconnected: 'session:disconnect',
  subscribed: 'session:subscribe',
  unsubscribed: 'session:unsubscribe',
};

/** The listeners of one relay, fed by its hub. */
export class SessionEvents {
  private readonly listeners = new Map<RelaySessionEventName, Set<SessionEventListener<RelaySessionEventName>>>();

  constructor(
    hub: SessionHub,
    private readonly logger: Logger,
  ) {
    hub.onSessionEvent((event) => this.dispatch(event));
  }

  /** Calls `listener` for each `event`; returns the function that removes it. */
  on<E extends RelaySessionEventName>(event: E, listener: SessionEventListener<E>): () => void {
    if (!Object.values(NAMES).includes(event)) {
      throw relayError(Errors.INVALID_CONFIG, `unknown event "${String(event)}" (known: ${Object.values(NAMES).join(', ')})`);
    }
    let set = this.listeners.get(event);
    if (set === undefined) this.listeners.set(event, (set = new Set()));
    const entry = listener as SessionEventListener<RelaySessionEventName>;
    set.add(entry);
    return () => {
      set!.delete(entry);
    };
  }

  private dispatch(event: SessionEvent): void {
    const name = NAMES[event.type];
    const set = this.listeners.get(name);
    if (set === undefined || set.size === 0) return;
    const session = event.session;
    const info: SessionInfo = {
      sessionId: session.id,
      user: session.principal?.name ?? null,
      principal: session.frozenPrincipal,
      transport: session.transportKind,
    };
    let payload: RelaySessionEvents[RelaySessionEventName] = info;
    if (event.type === 'subscribed' || event.type === 'unsubscribed') {
      const { id, destination, ack } = event.subscription;
      payload = { ...info, subscriptionId: id, destination, ack, ...(event.type === 'unsubscribed' ? { reason: event.reason } : {}) };
    }
    Object.freeze(payload);
    for (const listener of [...set]) {
      try {
        const result = listener(payload);
        if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
          (result as Promise<void>).then(undefined, (err: unknown) => this.failed(err, name));
        }
      } catch (err) {
        this.failed(err, name);
      }
    }
  }

  private failed(err: unknown, event: string): void {
    // A listener's bug must not break the session that triggered the event.
    this.logger.error({ err, event }, 'a session event listener failed');
  }
}
