/**
 * The browser client: one STOMP connection to the relay that reconnects by itself (exponential
 * backoff, full jitter), re-sends every subscription after a reconnect (resuming user destinations
 * from the last `resume-token` seen: resume.ts), and refreshes the token before each attempt.
 *
 * stompjs does the framing, heart-beats and CONNECT handshake. Its own reconnect delay is fixed
 * (or doubles without jitter), so it is set to 1 ms and the real wait happens in `beforeConnect`,
 * which stompjs awaits before every attempt, first and retries alike.
 */
import { Client, type IFrame, type IMessage, type IStompSocket, type StompSubscription } from '@stomp/stompjs';
import SockJS from 'sockjs-client';
import { backoffDelay, validateReconnect } from './backoff';
import { resolveBase, sockJsUrl, webSocketUrl } from './endpoints';
import { ResumePoint } from './resume';
import type {
  ConnectionState,
  RelayClient,
  RelayClientOptions,
  RelayErrorFrame,
  RelayMessage,
  RelaySubscription,
  ResumeGap,
  ServerInfo,
  SubscribeOptions,
} from './types';

interface SubscriptionEntry {
  readonly id: string;
  readonly destination: string;
  readonly handler: (message: RelayMessage) => void;
  readonly headers: Record<string, string>;
  readonly options: SubscribeOptions;
  /** The last `resume-token` seen, sent as `resume-from` on the next (re)subscription. */
  readonly resume: ResumePoint;
  /** The STOMP subscription on the current connection; undefined while disconnected. */
  live: StompSubscription | undefined;
  /** The server confirmed `live` with a RECEIPT (the relay sends it once the broker has it). */
  active: boolean;
  /** Callers of whenActive() waiting for the next confirmation. */
  waiters: Array<() => void>;
}

/** Stompjs's "send SUBSCRIBE frames for STOMP 1.2, 1.1 and 1.0" subprotocol list. */
const SUBPROTOCOLS = ['v12.stomp', 'v11.stomp', 'v10.stomp'];

/**
 * Connects to a stomp-relay server and keeps the connection up until {@link RelayClient.close}.
 *
 * @example
 * ```ts
 * const relay = createRelayClient({ url: '', login: 'alice' });
 * relay.subscribe('/topic/chat', (m) => console.log(m.json()));
 * relay.subscribeUser('/queue/notifications', (m) => alert(m.body));
 * relay.publish('/topic/chat', { from: 'alice', text: 'hi' });
 * ```
 */
export function createRelayClient(options: RelayClientOptions): RelayClient {
  const base = resolveBase(options.url, globalThis.location?.origin);
  const reconnect = validateReconnect(options.reconnect);
  const mode = options.transport ?? 'auto';
  if (mode !== 'websocket' && mode !== 'sockjs' && mode !== 'auto') {
    throw new TypeError(`transport must be 'websocket', 'sockjs' or 'auto', got "${String(mode)}"`);
  }
  const debug = options.debug ?? (() => {});

  let transport: 'websocket' | 'sockjs' = mode === 'sockjs' ? 'sockjs' : 'websocket';
  /** Attempts since the last CONNECTED; 0 = the next attempt goes at once. */
  let attempt = 0;
  let token: string | undefined;
  let state: ConnectionState = 'connecting';
  let serverInfo: ServerInfo | undefined;
  /** The current socket got as far as CONNECTED. */
  let established = false;
  /** The current socket opened (tells 'auto' whether WebSocket itself is blocked). */
  let socketOpened = false;
  let lastError: RelayErrorFrame | undefined;
  let closing = false;
  let nextSubscriptionId = 0;
  let nextReceipt = 0;
  const subscriptions = new Map<string, SubscriptionEntry>();
  let cancelPause: (() => void) | undefined;

  const setState = (next: ConnectionState): void => {
    if (state === next) return;
    state = next;
    options.onStateChange?.(next);
  };

  /** Waits `ms`, or less if close() is called meanwhile. */
  const pause = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        cancelPause = undefined;
        resolve();
      }
      cancelPause = done;
    });

  const resolveToken = async (): Promise<string | undefined> => {
    const source = options.token;
    if (source === undefined) return undefined;
    const value = typeof source === 'function' ? await source() : source;
    if (typeof value !== 'string' || value === '') throw new TypeError('token source returned no token');
    return value;
  };

  const connectHeaders = (): Record<string, string> => {
    // STOMP 1.1+ requires `host` in CONNECT; the relay has one virtual host, so the name is informative.
    const headers: Record<string, string> = { host: new URL(base).hostname };
    if (options.login !== undefined) headers.login = options.login;
    if (token !== undefined) {
      headers.Authorization = `Bearer ${token}`;
      headers.passcode = token;
    }
    return headers;
  };

  const openSocket = (): WebSocket => {
    if (transport === 'websocket') {
      try {
        return new WebSocket(webSocketUrl(base), SUBPROTOCOLS);
      } catch (err) {
        // No WebSocket at all (disabled by policy or an extension: "WebSocket is not a constructor"),
        // or one the page may not open (SecurityError): in 'auto' that is what SockJS is for. Before
        // this, 'auto' stayed in 'connecting' for good. 'websocket' asked for nothing else: rethrown.
        if (mode !== 'auto') {
          options.onError?.({ code: 'WEBSOCKET_UNAVAILABLE', message: `cannot open a WebSocket: ${String(err)}`, body: '' });
          // Thrown, stompjs would stop for good (its connect promise rejects unseen). A socket that
          // closes at once takes the same path as a refused connection: backoff and retry.
          return closedSocket(String(err)) as unknown as WebSocket;
        }
        debug(`stomp-relay: cannot create a WebSocket (${String(err)}), falling back to SockJS`);
        transport = 'sockjs';
      }
    }
    return new SockJS(sockJsUrl(base, token), undefined, options.sockjsTransports ? { transports: options.sockjsTransports } : {});
  };

  const createSocket = (): IStompSocket => {
    socketOpened = false;
    const socket = openSocket();
    socket.addEventListener('open', () => {
      socketOpened = true;
    });
    debug(`stomp-relay: opening ${transport} (attempt ${attempt})`);
    return socket as unknown as IStompSocket;
  };

  const deliver = (entry: SubscriptionEntry, message: IMessage): void => {
    // A MESSAGE already in flight when unsubscribe() was called is dropped, as the caller expects.
    if (!subscriptions.has(entry.id)) return;
    const resumeFrom = entry.resume.resumingFrom ?? entry.resume.token;
    if (entry.resume.repeats(message.headers)) {
      // Replayed, but it had come live already: settled on the application's behalf, never shown twice.
      const ack = entry.headers.ack;
      if (ack === 'client' || ack === 'client-individual') message.ack();
      return;
    }
    if (entry.resume.received(message.headers)) {
      reportGap(entry, message, resumeFrom);
      return;
    }
    const relayMessage: RelayMessage = {
      destination: message.headers.destination ?? entry.destination,
      headers: message.headers,
      body: message.body,
      json: <T>() => JSON.parse(message.body) as T,
    };
    callApplication(() => entry.handler(relayMessage));
  };

  /**
   * The empty `resume-gap:true` MESSAGE: not data, a signal to the application that what it missed
   * cannot all be replayed. Acked on its behalf on a client-ack subscription (it never sees it).
   */
  const reportGap = (entry: SubscriptionEntry, message: IMessage, resumeFrom: string | undefined): void => {
    const ack = entry.headers.ack;
    if (ack === 'client' || ack === 'client-individual') message.ack();
    const gap: ResumeGap = { subscriptionId: entry.id, destination: entry.destination, resumeFrom: resumeFrom ?? '' };
    debug(`stomp-relay: ${entry.destination} resumed with a gap after ${gap.resumeFrom}`);
    callApplication(() => entry.options.onGap?.(gap));
    callApplication(() => options.onGap?.(gap));
  };

  const sendSubscribe = (entry: SubscriptionEntry): void => {
    const receipt = `${entry.id}-${nextReceipt++}`;
    stomp.watchForReceipt(receipt, (frame) => {
      // A receipt for an older connection's SUBSCRIBE cannot arrive here: receipts die with their socket.
      if (!subscriptions.has(entry.id)) return;
      entry.active = true;
      const resumed = entry.resume.confirmed(frame.headers);
      if (resumed !== undefined) {
        callApplication(() => entry.options.onResumed?.({ subscriptionId: entry.id, destination: entry.destination, ...resumed }));
      }
      for (const resolve of entry.waiters.splice(0)) resolve();
    });
    // After a reconnect (or with options.resumeFrom) it resumes: `resume-from` with the last token.
    const headers = { ...entry.headers, ...entry.resume.subscribing(), id: entry.id, receipt };
    entry.live = stomp.subscribe(entry.destination, (m) => deliver(entry, m), headers);
  };

  const stomp = new Client({
    reconnectDelay: 1,
    connectionTimeout: options.connectTimeoutMs ?? 10_000,
    heartbeatOutgoing: options.heartbeat?.outgoingMs ?? 10_000,
    heartbeatIncoming: options.heartbeat?.incomingMs ?? 10_000,
    webSocketFactory: createSocket,
    debug: (line) => debug(line),
    beforeConnect: async () => {
      for (;;) {
        if (attempt > 0) {
          const delay = backoffDelay(attempt, reconnect);
          debug(`stomp-relay: reconnecting in ${delay} ms`);
          await pause(delay);
        }
        attempt += 1;
        if (closing) return; // stompjs sees the client inactive and opens nothing
        try {
          token = await resolveToken();
          stomp.connectHeaders = connectHeaders();
          return;
        } catch (err) {
          // A token endpoint that is down is like a relay that is down: back off and retry.
          debug(`stomp-relay: token source failed: ${String(err)}`);
        }
      }
    },
    onConnect: (frame: IFrame) => {
      attempt = 0;
      established = true;
      lastError = undefined;
      serverInfo = {
        userName: frame.headers['user-name'],
        server: frame.headers.server,
        session: frame.headers.session,
        version: frame.headers.version,
        transport,
      };
      for (const entry of subscriptions.values()) sendSubscribe(entry);
      setState('connected');
      options.onConnected?.(serverInfo);
    },
    onStompError: (frame: IFrame) => {
      lastError = { code: frame.headers.code, message: frame.headers.message ?? '', body: frame.body };
      options.onError?.(lastError);
      if (isFinal(lastError.code, options.token)) {
        // Retrying cannot help: the same credentials would be refused again, or the relay ended the
        // session on purpose. Stop as close() does; the socket's close then reports 'closed'.
        debug(`stomp-relay: ${lastError.code}, not reconnecting`);
        closing = true;
        cancelPause?.();
        void stomp.deactivate();
      }
    },
    onWebSocketClose: (event?: { code?: number; reason?: string }) => {
      const wasEstablished = established;
      established = false;
      for (const entry of subscriptions.values()) {
        entry.live = undefined;
        entry.active = false;
      }
      if (mode === 'auto' && transport === 'websocket' && !socketOpened && !closing) {
        // WebSocket could not even open (proxy strips Upgrade, firewall): SockJS from now on, at once.
        debug('stomp-relay: WebSocket failed to open, falling back to SockJS');
        transport = 'sockjs';
        attempt = 0;
      }
      if (closing) {
        setState('closed');
      } else {
        setState('reconnecting');
      }
      if (wasEstablished) options.onDisconnected?.({ code: event?.code, reason: event?.reason, error: lastError });
    },
  });

  stomp.activate();

  const subscribe = (
    destination: string,
    handler: (message: RelayMessage) => void,
    headers: Record<string, string> = {},
    subscribeOptions: SubscribeOptions = {},
  ): RelaySubscription => {
    if (typeof destination !== 'string' || !destination.startsWith('/')) {
      throw new TypeError(`destination must start with "/", got "${String(destination)}"`);
    }
    if (closing) throw new Error('stomp-relay: client is closed');
    const entry: SubscriptionEntry = {
      id: `sub-${nextSubscriptionId++}`,
      destination,
      handler,
      headers: { ...headers },
      options: { ...subscribeOptions },
      resume: new ResumePoint(subscribeOptions.resumeFrom),
      live: undefined,
      active: false,
      waiters: [],
    };
    subscriptions.set(entry.id, entry);
    if (stomp.connected) sendSubscribe(entry);
    return {
      id: entry.id,
      destination,
      get active() {
        return entry.active;
      },
      whenActive: () => (entry.active ? Promise.resolve() : new Promise<void>((resolve) => entry.waiters.push(resolve))),
      get resumeToken() {
        return entry.resume.token;
      },
      unsubscribe: () => {
        if (!subscriptions.delete(entry.id)) return;
        if (entry.live && stomp.connected) entry.live.unsubscribe();
        entry.live = undefined;
      },
    };
  };

  return {
    subscribe,
    subscribeUser: (destination, handler, headers, subscribeOptions) => {
      if (typeof destination !== 'string' || !destination.startsWith('/')) {
        throw new TypeError(`destination must start with "/", got "${String(destination)}"`);
      }
      return subscribe(destination.startsWith('/user/') ? destination : `/user${destination}`, handler, headers, subscribeOptions);
    },
    publish: (destination, body, headers = {}) => {
      if (!stomp.connected) throw new Error('stomp-relay: not connected; publish after onConnected');
      if (typeof body === 'string') {
        stomp.publish({ destination, body, headers: { ...headers } });
      } else if (body instanceof Uint8Array) {
        stomp.publish({ destination, binaryBody: body, headers: { 'content-type': 'application/octet-stream', ...headers } });
      } else {
        stomp.publish({ destination, body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
      }
    },
    get connected() {
      return stomp.connected;
    },
    get state() {
      return state;
    },
    get serverInfo() {
      return serverInfo;
    },
    close: async () => {
      if (closing && state === 'closed') return;
      closing = true;
      cancelPause?.();
      await stomp.deactivate();
      setState('closed');
    },
  };
}

/**
 * Runs an application callback. One that throws must not break stompjs's frame loop for the
 * others: its error is reported as uncaught (visible in the console and window.onerror) and the
 * client carries on.
 */
function callApplication(callback: () => void): void {
  try {
    callback();
  } catch (err) {
    queueMicrotask(() => {
      throw err;
    });
  }
}

/**
 * ERRORs after which the client stops instead of reconnecting: the relay ended the session on
 * purpose (SESSION_REVOKED: an administrator's ban or a password change), or refused credentials
 * that cannot change (AUTHENTICATION_FAILED with a fixed token or none; a token function may yield
 * a fresh one, so that case keeps retrying).
 */
function isFinal(code: string | undefined, token: RelayClientOptions['token']): boolean {
  if (code === 'SESSION_REVOKED') return true;
  return code === 'AUTHENTICATION_FAILED' && typeof token !== 'function';
}

/**
 * Stands in for a WebSocket the browser would not create: it reports a close (1006) on the next
 * tick, once stompjs has attached its handlers, so the client backs off and retries as after any
 * failed connection instead of hanging in 'connecting'.
 */
function closedSocket(reason: string): IStompSocket & { addEventListener(): void } {
  const socket: IStompSocket & { addEventListener(): void } = {
    url: '',
    onclose: null,
    onerror: null,
    onmessage: null,
    onopen: null,
    binaryType: 'arraybuffer',
    readyState: 3, // CLOSED
    close: () => undefined,
    send: () => undefined,
    addEventListener: () => undefined, // it never opens
  };
  setTimeout(() => socket.onclose?.({ code: 1006, reason, wasClean: false }), 0);
  return socket;
}
