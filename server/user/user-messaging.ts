/**
 * `sendToUser` / `sendToSession` (Spring's `convertAndSendToUser`): publish to a user's
 * destinations through the broker, reaching that user's sessions on every instance.
 */
import { publishMandatory, type Broker, type PublishRequest } from '../broker/broker';
import { headers as makeHeaders, type StompHeaders } from '../codec/frame';
import { Errors, relayError } from '../errors';
import { recordBeforePublish } from '../broker/history';
import { publishHeaderRefusal } from '../broker/header-values';
import type { RelayMetrics } from '../observability/metrics';
import type { ClusterPresence, UserPresence } from './presence';
import { TARGET_SESSION_HEADER, sessionBrokerDestination, userBrokerDestinations } from './user-destinations';
import { underPrefix } from '../broker/destinations';
import { isCarriedHeader, isRelaySetHeader } from '../session/header-policy';

/** A payload: bytes and strings go as they are; anything else is sent as JSON. */
export type Payload = Buffer | string | number | boolean | null | object;

/** Options of {@link Relay.sendToUser} and {@link Relay.sendToSession}. */
export interface SendToUserOptions {
  /** Extra STOMP headers for the MESSAGE (application headers, `content-type`...). */
  headers?: Record<string, string | number | boolean>;
  /** Deliver only to this session of the user (Spring's sessionId header). */
  sessionId?: string;
  /** Wait for the broker to confirm it took the message (default true). */
  confirm?: boolean;
}

/**
 * What {@link Relay.sendToUser} (and `POST /push/:user`) answers: whether the broker routed the message, and presence. `sessions` and
 * `instances` are presence (eventually consistent), not a receipt.
 */
export interface SendResult extends UserPresence {
  /** The destination as given (`/queue/x`; clients subscribe to `/user/queue/x`). */
  destination: string;
  /**
   * True when the broker routed the message to at least one instance where the user is subscribed
   * to the destination: it then reaches each of those sessions that stays subscribed. False when the
   * user has no session anywhere (nothing was delivered; presence agreed).
   */
  routed: boolean;
}

/** A message checked and encoded once, to send to many users ({@link UserMessaging.prepare}). */
export interface PreparedMessage {
  readonly destination: string;
  readonly headers: Readonly<StompHeaders>;
  readonly body: Buffer;
  /** The broker destination of `destination` for one user (the destination's part escaped once). */
  readonly brokerDestinationOf: (user: string) => string;
}

/** What a push to an anonymous session answers: presence knows no anonymous sessions. */
export interface AnonymousSendResult {
  /** The destination as given. */
  destination: string;
  /** True when the broker routed the message to the session's instance, where it is subscribed. */
  routed: boolean;
}

export class UserMessaging {
  /** The push counter's three children, labelled once rather than on every push. */
  private readonly outcomes;

  constructor(
    private readonly deps: {
      broker: Broker;
      presence: ClusterPresence;
      metrics: RelayMetrics;
      /** Prefixes a user destination may use, e.g. `/queue/`, `/topic/`. */
      destinationPrefixes: readonly string[];
      /** How long a message for an online user that reached no route is retried (see RelayConfig.userRouteWaitMs). */
      routeWaitMs: number;
    },
  ) {
    const pushes = deps.metrics.pushes;
    this.outcomes = { accepted: pushes.labels('accepted'), offline: pushes.labels('offline'), failed: pushes.labels('failed') };
  }

  /**
   * Publishes `payload` to `user`'s `destination` (e.g. `/queue/x`: their subscriptions on
   * `/user/queue/x` receive it, on any instance). Resolves once the broker routed it to every
   * instance where the user is subscribed (`routed: true`), or, when the user has no session
   * anywhere, with `routed: false`. Rejects with BAD_REQUEST for bad arguments, BROKER_UNAVAILABLE
   * when the broker cannot take the message, and NOT_DELIVERED when presence shows the user online
   * but no route took the message for `routeWaitMs` (their instance restoring routes, or no session
   * subscribed to that destination): never a silent loss.
   */
  async sendToUser(user: string, destination: string, payload: Payload, options: SendToUserOptions = {}): Promise<SendResult> {
    // async: a bad argument rejects, as every other failure does, rather than throwing.
    return this.sendPrepared(user, this.prepare(destination, payload, options), options);
  }

  /**
   * Checks and encodes a message once for many users (`POST /push`): BAD_REQUEST as
   * {@link sendToUser} would throw it, before anything is sent. Send it with {@link sendPrepared}.
   */
  prepare(destination: string, payload: Payload, options: Pick<SendToUserOptions, 'headers'> = {}): PreparedMessage {
    const { headers, body } = this.message(destination, payload, options);
    return { destination, headers, body, brokerDestinationOf: userBrokerDestinations(destination) };
  }

  /** {@link sendToUser} of a {@link prepare}d message (its body is shared, its headers copied). */
  async sendPrepared(user: string, prepared: PreparedMessage, options: Omit<SendToUserOptions, 'headers'> = {}): Promise<SendResult> {
    if (typeof user !== 'string' || user === '') throw relayError(Errors.BAD_REQUEST, 'user must be a non-empty string');
    const { destination } = prepared;
    // A loop copy (frame.ts headers), not a spread: V8's object spread of a null-prototype header
    // table takes a slow path that cost more than the rest of an offline user's push.
    const headers = makeHeaders(prepared.headers);
    if (options.sessionId !== undefined) headers[TARGET_SESSION_HEADER] = options.sessionId;
    const request: PublishRequest = { destination: prepared.brokerDestinationOf(user), headers, body: prepared.body };
    // Not through counted(): this runs once per user of a `POST /push`, so no closure and promise of its own.
    const started = process.hrtime.bigint();
    let offline: UserPresence | undefined;
    try {
      // Recorded for resume before it can be delivered live (broker/history.ts), once, whatever the retries.
      const history = this.deps.broker.history;
      if (history !== undefined) await recordBeforePublish(history, request);
      offline = await this.publishRouted(user, destination, request, options.confirm ?? true);
    } catch (err) {
      this.outcomes.failed.inc();
      throw err;
    }
    this.settledPush(started, offline === undefined);
    // An offline user's presence was just looked up (and shows no session): not twice. Built field
    // by field: a spread plus two fields was ~100x slower (V8's slow path), per user of a batch.
    const presence = offline ?? this.deps.presence.lookup(user);
    return { user: presence.user, sessions: presence.sessions, instances: presence.instances, destination, routed: offline === undefined };
  }

  /**
   * Publishes `payload` to an anonymous session's `destination` (its subscriptions on
   * `/user/queue/x`; Spring keys them by session id), on any instance. Resolves with `routed: true`
   * once the broker routed it there, `routed: false` when no such session is subscribed (presence
   * knows nothing of anonymous sessions, so nothing is retried). Rejects as {@link sendToUser}.
   */
  async sendToAnonymousSession(
    sessionId: string,
    destination: string,
    payload: Payload,
    options: SendToUserOptions = {},
  ): Promise<AnonymousSendResult> {
    if (typeof sessionId !== 'string' || sessionId === '') throw relayError(Errors.BAD_REQUEST, 'sessionId must be a non-empty string');
    const message = this.message(destination, payload, options);
    const request = { ...message, destination: sessionBrokerDestination(sessionId, destination) };
    const routed = await this.counted(() => publishMandatory(this.deps.broker, request, { confirm: options.confirm ?? true }));
    return { destination, routed };
  }

  /** Checks the destination and builds body and headers (BAD_REQUEST for what is not allowed). */
  private message(destination: string, payload: Payload, options: SendToUserOptions): { headers: StompHeaders; body: Buffer } {
    if (!underPrefix(destination, this.deps.destinationPrefixes)) {
      throw relayError(
        Errors.BAD_REQUEST,
        `destination must start with one of ${this.deps.destinationPrefixes.join(', ')}, got "${destination}"`,
      );
    }
    return applicationMessage(payload, options.headers);
  }

  /** Runs a push, counting its outcome and latency. */
  private async counted(push: () => Promise<boolean>): Promise<boolean> {
    const started = process.hrtime.bigint();
    let routed: boolean;
    try {
      routed = await push();
    } catch (err) {
      this.outcomes.failed.inc();
      throw err;
    }
    this.settledPush(started, routed);
    return routed;
  }

  /** A push that did not fail: counted as accepted or offline, its latency since `started` observed. */
  private settledPush(started: bigint, routed: boolean): void {
    (routed ? this.outcomes.accepted : this.outcomes.offline).inc();
    this.deps.metrics.pushLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
  }

  /**
   * Publishes with `mandatory`; when nothing took the message while presence says the user has
   * sessions, tries again (25 ms doubling to 400 ms) until `routeWaitMs` has passed. Undefined when
   * routed; when the user is offline, the presence that showed it (no session), so the caller need
   * not look again. NOT_DELIVERED when online and still unroutable. An unroutable publish costs no
   * error object ({@link publishMandatory}): offline users are the common case of a big `POST /push`.
   */
  private async publishRouted(
    user: string,
    destination: string,
    request: PublishRequest,
    confirm: boolean,
  ): Promise<UserPresence | undefined> {
    const deadline = Date.now() + this.deps.routeWaitMs;
    for (let pause = 25; ; pause = Math.min(pause * 2, 400)) {
      if (await publishMandatory(this.deps.broker, request, { confirm })) return undefined;
      const presence = this.deps.presence.lookup(user);
      const { sessions } = presence;
      if (sessions === 0) return presence;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw relayError(
          Errors.NOT_DELIVERED,
          `${user} has ${sessions} session(s), but none took ${destination} within ${this.deps.routeWaitMs} ms (not subscribed to it, or their instance is restoring its routes)`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(pause, left)));
    }
  }
}

/**
 * A backend's message (`sendToUser`, `POST /push*`, `relay.publish`, `POST /publish`): body and
 * content type from the payload, its application headers copied. BAD_REQUEST for headers the
 * caller may not set, and for values every engine would refuse at publish time (a bad
 * `expiration` or `priority`, a `/temp-queue/` reply-to): the caller's mistake, answered 400
 * before anything is recorded or sent, the same for one user and for a batch.
 */
export function applicationMessage(payload: Payload, source: SendToUserOptions['headers']): { headers: StompHeaders; body: Buffer } {
  const { body, contentType } = encodePayload(payload);
  const headers = makeHeaders({ 'content-type': contentType });
  copyApplicationHeaders(headers, source);
  const refusal = publishHeaderRefusal(headers);
  if (refusal) throw relayError(Errors.BAD_REQUEST, refusal.message);
  return { headers, body };
}

/** Turns a payload into body bytes and a content type. */
export function encodePayload(payload: Payload): { body: Buffer; contentType: string } {
  if (Buffer.isBuffer(payload)) return { body: payload, contentType: 'application/octet-stream' };
  if (typeof payload === 'string') return { body: Buffer.from(payload, 'utf8'), contentType: 'text/plain;charset=utf-8' };
  return { body: Buffer.from(JSON.stringify(payload), 'utf8'), contentType: 'application/json' };
}

/**
 * Copies caller-supplied application headers onto a message, refusing (BAD_REQUEST) names the
 * protocol or the relay owns (header-policy.ts: `x-relay-sender` is the relay's word for who sent a
 * client SEND, and a push has no such sender), `redelivered`, and anything that is not a plain value.
 */
export function copyApplicationHeaders(target: StompHeaders, source: SendToUserOptions['headers']): void {
  if (source === undefined) return;
  if (typeof source !== 'object' || source === null || Array.isArray(source))
    throw relayError(Errors.BAD_REQUEST, 'headers must be an object');
  for (const [name, value] of Object.entries(source)) {
    const lower = name.toLowerCase();
    if (name === '' || name.length > 256 || /[\r\n:]/.test(name))
      throw relayError(Errors.BAD_REQUEST, `invalid header name "${name.slice(0, 64)}"`);
    if (!isCarriedHeader(lower) || isRelaySetHeader(lower) || lower === 'redelivered')
      throw relayError(Errors.BAD_REQUEST, `header "${name}" is reserved`);
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw relayError(Errors.BAD_REQUEST, `header "${name}" must be a string, number or boolean`);
    }
    target[name] = String(value);
  }
}
