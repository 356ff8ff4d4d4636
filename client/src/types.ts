import type { ReconnectOptions } from './backoff';

/** How the browser reaches the relay. */
export type RelayTransport = 'websocket' | 'sockjs' | 'auto';

/**
 * Where a connection stands. `closed` is final: {@link RelayClient.close} was called, or the relay
 * sent an ERROR that reconnecting cannot fix (SESSION_REVOKED; AUTHENTICATION_FAILED when `token`
 * is not a function), which `onError` received first.
 */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

/** A token, or a function that yields a fresh one before every (re)connect. */
export type TokenSource = string | (() => string | Promise<string>);

/** Options of {@link createRelayClient}. */
export interface RelayClientOptions {
  /** Base http(s) URL of the relay, e.g. `https://push.example.com`; `''` = the page's own origin. */
  url: string;
  /**
   * `websocket`: plain WebSocket at `/ws`. `sockjs`: SockJS at `/sockjs` (works through proxies that
   * break WebSocket). `auto` (default): WebSocket, falling back to SockJS for good once a WebSocket
   * fails to open.
   */
  transport?: RelayTransport;
  /** SockJS transports to allow, e.g. `['xhr-streaming', 'xhr-polling']`. Default: all. */
  sockjsTransports?: string[];
  /**
   * JWT sent as `Authorization: Bearer <token>` and `passcode` in CONNECT, and as `access_token` on
   * the SockJS URL. A function is called before every attempt, so it can refresh an expired token.
   */
  token?: TokenSource;
  /** CONNECT `login` header; in the relay's dev mode (no JWT secret) it names the user. */
  login?: string;
  /** Reconnect backoff bounds (exponential, full jitter). */
  reconnect?: Partial<ReconnectOptions>;
  /** STOMP heart-beats in ms (0 = none). Default 10000 both ways. */
  heartbeat?: { outgoingMs?: number; incomingMs?: number };
  /** Give up on an attempt that has not reached CONNECTED after this many ms. Default 10000. */
  connectTimeoutMs?: number;
  /** Called on every CONNECTED, first connect and reconnects alike, after resubscribing. */
  onConnected?: (info: ServerInfo) => void;
  /** Called when an established connection is lost (not when an attempt fails). */
  onDisconnected?: (reason: DisconnectReason) => void;
  /**
   * Called when the relay sends an ERROR frame (bad token, limit reached, …), and with code
   * `WEBSOCKET_UNAVAILABLE` when `transport: 'websocket'` cannot create a WebSocket (it keeps retrying).
   * After `SESSION_REVOKED`, or `AUTHENTICATION_FAILED` with a fixed token (or none), the client
   * stops: the state turns `closed` and it does not reconnect.
   */
  onError?: (error: RelayErrorFrame) => void;
  /** Called on every state change. */
  onStateChange?: (state: ConnectionState) => void;
  /**
   * Called when any subscription's resume found a gap in the relay's history (see
   * {@link SubscribeOptions.onGap}, called first for that subscription).
   */
  onGap?: (gap: ResumeGap) => void;
  /** Receives stompjs's and this client's debug lines. */
  debug?: (line: string) => void;
}

/** What the relay said about this session in CONNECTED. */
export interface ServerInfo {
  /** The authenticated user (`user-name` header). */
  userName: string | undefined;
  /** The relay instance's `server` header, e.g. `stomp-relay/0.1.0 (relay1)`. */
  server: string | undefined;
  /** Session id (`session` header). */
  session: string | undefined;
  /** Negotiated STOMP version. */
  version: string | undefined;
  /** The transport this session runs on. */
  transport: 'websocket' | 'sockjs';
}

/** Why an established connection ended. */
export interface DisconnectReason {
  /** WebSocket/SockJS close code, when the socket closed. */
  code?: number;
  reason?: string;
  /** Set when the relay sent an ERROR frame before closing. */
  error?: RelayErrorFrame;
}

/** An ERROR frame from the relay. */
export interface RelayErrorFrame {
  /** Stable code from the relay's error catalogue (`code` header), e.g. `UNAUTHORIZED`. */
  code: string | undefined;
  /** Human-readable message (`message` header). */
  message: string;
  /** Details, if any. */
  body: string;
}

/** A MESSAGE delivered to a subscription. */
export interface RelayMessage {
  destination: string;
  headers: Readonly<Record<string, string>>;
  /** The body as text. */
  body: string;
  /** The body parsed as JSON; throws SyntaxError if it is not JSON. */
  json<T = unknown>(): T;
}

/**
 * A resumed subscription could not get everything it missed: the relay's history had no record
 * after the subscription's last token (older than the relay's retention window, from before a
 * broker restart, unknown, or history unavailable), and opened the resubscription with an empty
 * `resume-gap:true` MESSAGE. Whatever it could still recover follows as ordinary messages. The
 * application should reload its state for this destination (from its own backend).
 */
export interface ResumeGap {
  /** The subscription's id ({@link RelaySubscription.id}). */
  subscriptionId: string;
  destination: string;
  /** The token the client resumed from (`resume-from`). */
  resumeFrom: string;
}

/** How a resubscription with `resume-from` went, once the relay confirmed it. */
export interface ResumeResult {
  subscriptionId: string;
  destination: string;
  /** The token the client resumed from (`resume-from`). */
  resumeFrom: string;
  /**
   * Messages delivered between the resubscription and the relay's confirmation: the ones published
   * while the client was away (the relay replays them before confirming), plus any that were
   * published during the replay itself.
   */
  recovered: number;
  /** True when the relay reported a gap ({@link ResumeGap}) for this resubscription. */
  gap: boolean;
}

/** Per-subscription options (4th argument of {@link RelayClient.subscribe}). */
export interface SubscribeOptions {
  /**
   * Called when a resubscription found a gap in the relay's history: messages may be missing, reload
   * this destination's state. The empty `resume-gap` MESSAGE itself never reaches the message handler.
   */
  onGap?: (gap: ResumeGap) => void;
  /** Called when a resubscription with `resume-from` is confirmed (after what it recovered was delivered). */
  onResumed?: (result: ResumeResult) => void;
  /**
   * A `resume-token` to resume from on the very first SUBSCRIBE, e.g. one kept in sessionStorage
   * ({@link RelaySubscription.resumeToken}) across a page reload. Without it the first SUBSCRIBE
   * carries no `resume-from`: a new subscription starts with what is published from then on.
   */
  resumeFrom?: string;
}

/** A live subscription; it survives reconnects until {@link RelaySubscription.unsubscribe}. */
export interface RelaySubscription {
  /** The STOMP subscription id; stable across reconnects. */
  readonly id: string;
  readonly destination: string;
  /**
   * True while the server has confirmed this subscription on the current connection: messages
   * published from then on reach it. False while connecting, reconnecting, or until the server's
   * RECEIPT for the (re)subscription arrives.
   */
  readonly active: boolean;
  /**
   * Resolves once the subscription is {@link RelaySubscription.active} (at once if it is). Use it
   * before triggering a push you expect to see, e.g. in tests or right after sign-in.
   */
  whenActive(): Promise<void>;
  /**
   * The last `resume-token` this subscription saw (user destinations carry one on every MESSAGE),
   * sent as `resume-from` when it is resubscribed after a reconnect. Undefined until one arrived.
   */
  readonly resumeToken: string | undefined;
  /** Stops delivery and sends UNSUBSCRIBE if connected. Idempotent. */
  unsubscribe(): void;
}

/** Handle returned by {@link createRelayClient}. */
export interface RelayClient {
  /**
   * Subscribes to a destination (`/topic/chat`, `/queue/jobs`, `/user/queue/x`, …). The
   * subscription is sent now if connected, and again after every reconnect. On a user destination
   * the resubscription resumes (`resume-from` with the last `resume-token` seen): the relay first
   * delivers what was published meanwhile, or reports a gap ({@link SubscribeOptions.onGap}).
   */
  subscribe(
    destination: string,
    handler: (message: RelayMessage) => void,
    headers?: Record<string, string>,
    options?: SubscribeOptions,
  ): RelaySubscription;
  /** Subscribes to this user's own destination: `subscribeUser('/queue/x')` = `subscribe('/user/queue/x')`. */
  subscribeUser(
    destination: string,
    handler: (message: RelayMessage) => void,
    headers?: Record<string, string>,
    options?: SubscribeOptions,
  ): RelaySubscription;
  /**
   * Sends a message. Strings go as they are; anything else as JSON with
   * `content-type: application/json`. Throws if not connected (nothing is queued: check
   * {@link RelayClient.connected} or wait for `onConnected`).
   */
  publish(destination: string, body: unknown, headers?: Record<string, string>): void;
  /** True between CONNECTED and the loss of the connection. */
  readonly connected: boolean;
  readonly state: ConnectionState;
  /** What CONNECTED said; undefined before the first one. Kept while reconnecting. */
  readonly serverInfo: ServerInfo | undefined;
  /** Sends DISCONNECT, closes the socket and stops reconnecting. Resolves when the socket is closed. */
  close(): Promise<void>;
}
