/**
 * SockJS transport (`sockjs`), at `/sockjs`, with all its transports (websocket, xhr-streaming,
 * xhr-polling, eventsource, iframe, jsonp). SockJS carries text only: STOMP bytes arrive as strings
 * and leave as strings, so a body that is not valid UTF-8 cannot cross it (see docs/protocol.md).
 *
 * The two WebSocket transports (framed `/<server>/<session>/websocket` and raw `/websocket`) run on
 * the relay's own `ws` machinery (sockjs-websocket.ts), speaking SockJS's protocol as sockjs does;
 * sockjs itself serves the others (xhr, xhr_streaming, eventsource, htmlfile, jsonp, iframe, info)
 * and answers every request on the WebSocket paths that is not a handshake the relay takes.
 */
import { ServerResponse, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import sockjs from 'sockjs';
import type { Logger } from '../observability/logger';
import { bindingFor, presentedBy, satisfies, type SockJsBinding } from './sockjs-credential';
import { BROKEN_FRAMING, sockjsCloseCode, sockjsPathOf } from './sockjs-framing';
import { SockJsWebSockets, type SockJsWebSocketTransport } from './sockjs-websocket';
import type { HandshakeInfo, Transport, TransportEvents } from './transport';

/** Adapts one SockJS connection to the session layer's {@link Transport}. */
export class SockJsTransport implements Transport {
  readonly kind = 'sockjs' as const;
  readonly textOnly = true;
  readonly handshake: HandshakeInfo;
  private events: TransportEvents | null = null;
  private closed = false;
  /** What {@link bufferedAmount} already counted of sockjs's current send buffer. */
  private counted: { buffer: string[] | undefined; entries: number; chars: number } = { buffer: undefined, entries: 0, chars: 0 };

  /**
   * @param requestHeaders all headers of the HTTP request that opened the session, when the
   *   endpoint saw it (SockJS itself keeps only a few: no Origin, Authorization or Cookie).
   */
  constructor(
    private readonly conn: sockjs.Connection,
    requestHeaders?: IncomingHttpHeaders,
  ) {
    this.handshake = {
      remoteAddress: conn.remoteAddress ?? '',
      url: conn.url ?? '',
      headers: requestHeaders ?? conn.headers ?? {},
      protocol: conn.protocol,
    };
    conn.on('data', (message: unknown) => this.received(message));
    conn.on('close', () => this.finish());
  }

  bind(events: TransportEvents): void {
    this.events = events;
    if (this.closed) events.close();
  }

  /**
   * One message from sockjs: a string from its framed transports (JSON strings), a Buffer from a
   * raw WebSocket's binary frame. sockjs passes on any JSON value a client sent (`[1]`, `null`):
   * those end the session as broken framing, as unparsable JSON does.
   */
  private received(message: unknown): void {
    if (typeof message === 'string') this.events?.data(Buffer.from(message, 'utf8'));
    else if (Buffer.isBuffer(message)) this.events?.data(message);
    else this.close(BROKEN_FRAMING.code, BROKEN_FRAMING.reason);
  }

  /**
   * Frames SockJS holds until the client's next poll/stream picks them up, plus what the socket
   * under the current receiver has queued. SockJS exposes no public figure; we read its session's
   * send buffer, which is where a client that stops polling makes data pile up.
   */
  get bufferedAmount(): number {
    const session = (this.conn as unknown as { _session?: SockJsSessionInternals })._session;
    if (!session) return 0;
    const buffer = session.send_buffer ?? [];
    // Asked before every write: count only what was appended since last time. sockjs only appends
    // to this array and swaps in a new one when it flushes.
    if (buffer !== this.counted.buffer) this.counted = { buffer, entries: 0, chars: 0 };
    for (let i = this.counted.entries; i < buffer.length; i++) this.counted.chars += buffer[i].length;
    this.counted.entries = buffer.length;
    return this.counted.chars + (this.socketUnderReceiver()?.writableLength ?? 0);
  }

  send(data: Buffer, _binary: boolean): void {
    if (this.closed) return;
    this.conn.write(data.toString('utf8'));
  }

  close(code = 1000, reason = 'Normal closure'): void {
    if (this.closed) return;
    closeConnection(this.conn, code, reason.slice(0, 120));
    // sockjs reports 'close' only once its session times out (up to disconnect_delay later, for
    // polling transports); the session is over for us now, so say so at once.
    this.finish();
  }

  /**
   * Destroys the socket under the session's current receiver, if one is attached (a polling session
   * between polls has none: sockjs expires it after disconnect_delay), and reports the close.
   */
  destroy(): void {
    this.socketUnderReceiver()?.destroy?.();
    this.finish();
  }

  /** The TCP socket of the request or WebSocket currently carrying the session, from sockjs internals. */
  private socketUnderReceiver(): SocketInternals | undefined {
    const recv = (this.conn as unknown as { _session?: SockJsSessionInternals })._session?.recv;
    return recv?.connection ?? recv?.response?.connection;
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.events?.close();
  }
}

interface SocketInternals {
  writableLength?: number;
  destroy?(): void;
}

interface SockJsSessionInternals {
  send_buffer?: string[];
  recv?: { connection?: SocketInternals; response?: { connection?: SocketInternals } };
}

export { sockjsCloseCode } from './sockjs-framing';

const SEALED: SockJsBinding = Object.freeze({ kind: 'sealed' });

/** Answers as SockJS does for a session that does not exist, on a request or an upgrade socket. */
function refuseAsUnknown(res: ServerResponse | Duplex): void {
  if (res instanceof ServerResponse) {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=UTF-8', 'Cache-Control': 'no-store' });
    res.end('Not Found');
  } else {
    res.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  }
}

/** 413, then the connection goes: the rest of the body is never read. */
function refuseTooLarge(req: IncomingMessage, res: ServerResponse): void {
  if (!res.headersSent) {
    res.writeHead(413, { 'Content-Type': 'text/plain; charset=UTF-8', Connection: 'close' });
    res.end('Payload Too Large');
  }
  res.once('finish', () => req.destroy());
}

/** Closes with a numeric code: @types/sockjs declares it a string, which is what caused the bug. */
function closeConnection(conn: sockjs.Connection, code: number, reason: string): void {
  (conn.close as unknown as (code: number, reason: string) => boolean).call(conn, sockjsCloseCode(code, conn.protocol), reason);
}

export interface SockJsEndpointOptions {
  /** URL prefix, e.g. `/sockjs`. */
  prefix: string;
  /** URL of the sockjs-client bundle SockJS's iframe transports load. */
  sockjsClientUrl?: string;
  /**
   * Largest message SockJS's WebSocket transports (framed and raw) accept, in bytes; a larger one is
   * closed with 1009 "WebSocket frame length too large", as sockjs's faye-websocket closed it. Also
   * the largest body of one `xhr_send` / `jsonp_send` request (413 above it): SockJS itself reads
   * those bodies whole, without a bound, before it even looks at the session.
   */
  maxMessageBytes: number;
  /**
   * Between heart-beats: sockjs's `heartbeat_delay` (default 25 s), for every transport (`h` frames
   * on the HTTP ones, pings on the WebSocket one). Shortened by tests.
   */
  heartbeatDelayMs?: number;
  /** How long the WebSocket transport waits for a ping's pong (sockjs: 10 s). Shortened by tests. */
  pongTimeoutMs?: number;
  logger: Logger;
  onTransport(transport: Transport): void;
}

type SockJsHandler = (req: IncomingMessage, res: ServerResponse | Duplex, head?: Buffer) => boolean;

/** How long request headers wait for their SockJS session to open, and how many may wait. */
const PENDING_HEADERS_TTL_MS = 30_000;
const PENDING_HEADERS_MAX = 10_000;

/** A request for one SockJS session: `/<prefix>/<server>/<session>/<transport>`. */
interface SessionRequest {
  sessionId: string;
  /** A receiving transport, which opens the session when it does not exist yet (not `xhr_send`...). */
  opens: boolean;
}

/** SockJS transports whose request opens a session (the `_send` ones only deliver to one). */
const OPENING_TRANSPORTS: ReadonlySet<string> = new Set(['websocket', 'xhr', 'xhr_streaming', 'eventsource', 'htmlfile', 'jsonp']);

/**
 * Owns one SockJS server; {@link handle} returns false for requests outside its prefix.
 *
 * Every request of a SockJS session must present the credential that opened it (see
 * ./sockjs-credential.ts): otherwise a session id, which travels in every URL, would be all it
 * takes to read a user's pushes and send as them. A request that does not is answered 404, as for
 * a session that does not exist, and never reaches SockJS.
 */
export class SockJsEndpoint {
  private readonly handler: SockJsHandler;
  private readonly connections = new Set<sockjs.Connection>();
  /**
   * Requests that may open a session, by SockJS session id, until it opens: their headers, so
   * authenticators see the cookies and Authorization header SockJS drops, and the session's
   * binding. Bounded in count and age.
   */
  private readonly pending = new Map<string, { headers: IncomingHttpHeaders; binding: SockJsBinding; at: number }>();
  /** Bindings of the open sessions, by SockJS session id. */
  private readonly liveSessions = new Map<string, SockJsBinding>();
  private readonly prefix: string;
  private readonly logger: Logger;
  private readonly maxMessageBytes: number;
  /** The WebSocket transports, on the relay's own `ws` machinery. */
  private readonly webSockets: SockJsWebSockets;
  private readonly onTransport: (transport: Transport) => void;

  constructor(options: SockJsEndpointOptions) {
    this.prefix = options.prefix;
    this.logger = options.logger;
    this.maxMessageBytes = options.maxMessageBytes;
    this.onTransport = options.onTransport;
    this.webSockets = new SockJsWebSockets({
      prefix: options.prefix,
      maxMessageBytes: options.maxMessageBytes,
      heartbeatDelayMs: options.heartbeatDelayMs,
      pongTimeoutMs: options.pongTimeoutMs,
      closed: (transport) => this.webSocketClosed(transport),
      onError: (err) => options.logger.error({ err, transport: 'sockjs' }, 'SockJS heart-beat failed'),
    });
    const server = sockjs.createServer({
      prefix: options.prefix,
      sockjs_url: options.sockjsClientUrl,
      ...(options.heartbeatDelayMs !== undefined ? { heartbeat_delay: options.heartbeatDelayMs } : {}),
      faye_server_options: { maxLength: options.maxMessageBytes },
      log: (severity: string, message: string) => {
        if (severity === 'error') options.logger.error({ transport: 'sockjs' }, message);
        else options.logger.trace({ transport: 'sockjs' }, message);
      },
    } as sockjs.ServerOptions);
    server.on('connection', (conn: sockjs.Connection | null) => {
      // sockjs emits null for a connection that closed during its handshake.
      if (!conn) return;
      this.connections.add(conn);
      conn.on('close', () => this.connections.delete(conn));
      const sessionId = this.sessionRequestOf(conn.url ?? '')?.sessionId;
      const pending = sessionId === undefined ? undefined : this.pending.get(sessionId);
      if (sessionId !== undefined) {
        this.pending.delete(sessionId);
        // Polling sessions open in the tick of their first request, so `pending` is there; if it
        // ever were not, no later request of the session is let in (fail closed).
        this.liveSessions.set(sessionId, pending?.binding ?? SEALED);
        conn.on('close', () => this.liveSessions.delete(sessionId));
      }
      options.onTransport(new SockJsTransport(conn, pending?.headers));
    });
    // `listener().getHandler()` is what installHandlers() wraps around the HTTP server; calling it
    // ourselves lets the relay put its Origin check in front of SockJS.
    const listener = (server as unknown as { listener(o: object): { getHandler(): SockJsHandler } }).listener({});
    this.handler = listener.getHandler();
  }

  /** True when the request belonged to SockJS (and is now handled). */
  handle(req: IncomingMessage, res: ServerResponse | Duplex, head?: Buffer): boolean {
    // A CORS preflight carries no cookies and touches no session (SockJS answers it with headers only).
    const target = req.method === 'OPTIONS' ? undefined : this.sessionRequestOf(req.url ?? '');
    // A WebSocket handshake the relay completes itself (sockjs-websocket.ts); sockjs answers the rest.
    const webSocket = res instanceof ServerResponse ? undefined : this.webSockets.kindOf(req);
    if (target !== undefined) {
      const credentials = presentedBy(req.url ?? '', req.headers);
      const binding = this.liveSessions.get(target.sessionId) ?? this.pending.get(target.sessionId)?.binding;
      if (binding !== undefined) {
        if (!satisfies(credentials, binding)) {
          this.logger.info(
            { transport: 'sockjs', remoteAddress: req.socket.remoteAddress },
            'refused a SockJS request without the credential its session was opened with',
          );
          refuseAsUnknown(res);
          return true;
        }
      }
      if (webSocket === 'websocket') {
        // sockjs keeps no session for a WebSocket (its id names nothing a poll could reach): it binds
        // the id while open only when nothing else holds it, and never touches another's binding.
        const session = binding === undefined ? { sessionId: target.sessionId, binding: bindingFor(credentials) } : undefined;
        this.webSockets.upgrade(req, res as Duplex, head ?? Buffer.alloc(0), webSocket, session, (t) => this.webSocketOpened(t));
        return true;
      }
      if (binding === undefined && target.opens) this.remember(target.sessionId, req.headers, bindingFor(credentials));
      if (!target.opens && res instanceof ServerResponse && !this.boundBody(req, res)) return true;
    }
    if (webSocket === 'websocket-raw') {
      this.webSockets.upgrade(req, res as Duplex, head ?? Buffer.alloc(0), webSocket, undefined, (t) => this.webSocketOpened(t));
      return true;
    }
    return this.handler(req, res, head);
  }

  /** A framed WebSocket's session is bound while it is open, as sockjs's sessions are. */
  private webSocketOpened(transport: SockJsWebSocketTransport): void {
    if (transport.sessionId !== undefined && transport.binding !== undefined) this.liveSessions.set(transport.sessionId, transport.binding);
    this.onTransport(transport);
  }

  private webSocketClosed(transport: SockJsWebSocketTransport): void {
    const id = transport.sessionId;
    // Only its own binding: another transport's session may have opened under the same id since.
    if (id !== undefined && this.liveSessions.get(id) === transport.binding) this.liveSessions.delete(id);
  }

  /**
   * Holds a send request's body to {@link SockJsEndpointOptions.maxMessageBytes}: refused (413)
   * from its declared length before anything is read, or cut off as soon as it streams past it.
   * False when refused at once.
   */
  private boundBody(req: IncomingMessage, res: ServerResponse): boolean {
    const limit = this.maxMessageBytes;
    if (Number(req.headers['content-length']) > limit) {
      refuseTooLarge(req, res);
      return false;
    }
    let seen = 0;
    const count = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen <= limit) return;
      // SockJS's own listener stops collecting here too: nothing more of this body is kept.
      req.removeAllListeners('data');
      req.removeAllListeners('end');
      req.pause();
      refuseTooLarge(req, res);
    };
    req.on('data', count);
    return true;
  }

  private remember(sessionId: string, headers: IncomingHttpHeaders, binding: SockJsBinding): void {
    const now = Date.now();
    // Map iteration is insertion order: the oldest entries come first.
    for (const [id, entry] of this.pending) {
      if (now - entry.at < PENDING_HEADERS_TTL_MS && this.pending.size < PENDING_HEADERS_MAX) break;
      this.pending.delete(id);
    }
    this.pending.set(sessionId, { headers, binding, at: now });
  }

  /**
   * `/sockjs/<server>/<session>/<transport>[/][?…]` → the session it names; undefined for other
   * paths (info, iframe, the raw `/sockjs/websocket`). Read as SockJS routes it (its path as
   * url.parse reads it, backslashes as slashes; one trailing slash allowed), so no spelling reaches
   * a session unchecked.
   */
  private sessionRequestOf(url: string): SessionRequest | undefined {
    const pathname = sockjsPathOf(url);
    if (!pathname.startsWith(this.prefix + '/')) return undefined;
    let path = pathname.slice(this.prefix.length + 1);
    if (path.endsWith('/')) path = path.slice(0, -1);
    const parts = path.split('/');
    if (parts.length !== 3 || parts[0] === '' || parts[1] === '' || parts[2] === '') return undefined;
    return { sessionId: parts[1], opens: OPENING_TRANSPORTS.has(parts[2]) };
  }

  close(): void {
    for (const conn of this.connections) closeConnection(conn, 1001, 'Going away');
    this.webSockets.close();
  }
}
