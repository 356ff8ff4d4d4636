/**
 * SockJS transport (`sockjs`), at `/sockjs`, with all its transports (websocket, xhr-streaming,
 * xhr-polling, eventsource, iframe, jsonp). SockJS carries text only: STOMP bytes arrive as strings
 * and leave as strings, so a body that is not valid UTF-8 cannot cross it (see docs/protocol.md).
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import sockjs from 'sockjs';
import type { Logger } from '../observability/logger';
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
  constructor(private readonly conn: sockjs.Connection, requestHeaders?: IncomingHttpHeaders) {
    this.handshake = {
      remoteAddress: conn.remoteAddress ?? '',
      url: conn.url ?? '',
      headers: requestHeaders ?? conn.headers ?? {},
      protocol: conn.protocol,
    };
    conn.on('data', (text: string) => this.events?.data(Buffer.from(text, 'utf8')));
    conn.on('close', () => this.finish());
  }

  bind(events: TransportEvents): void {
    this.events = events;
    if (this.closed) events.close();
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

/**
 * A close code as SockJS can carry it (`protocol` is the connection's, e.g. `websocket-raw`). The
 * framed transports send it in a `c[code,"reason"]` frame that sockjs-client hands to the
 * application as `CloseEvent.code`, so it must be a number. The raw WebSocket endpoint passes it to
 * faye-websocket, which throws for anything but 1000 and 3000–4999 (what a browser's
 * `WebSocket.close()` accepts): other codes become 1000 there; the ERROR frame before says why.
 */
export function sockjsCloseCode(code: number, protocol: string | undefined): number {
  if (protocol !== 'websocket-raw') return code;
  return code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000;
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
   * Largest message SockJS's WebSocket transports (framed and raw) accept, in bytes; faye-websocket
   * closes a larger one with 1009 (it sends the close before anything else could be written).
   */
  maxMessageBytes: number;
  logger: Logger;
  onTransport(transport: Transport): void;
}

type SockJsHandler = (req: IncomingMessage, res: ServerResponse | Duplex, head?: Buffer) => boolean;

/** How long request headers wait for their SockJS session to open, and how many may wait. */
const PENDING_HEADERS_TTL_MS = 30_000;
const PENDING_HEADERS_MAX = 10_000;

/** Owns one SockJS server; {@link handle} returns false for requests outside its prefix. */
export class SockJsEndpoint {
  private readonly handler: SockJsHandler;
  private readonly connections = new Set<sockjs.Connection>();
  /**
   * Headers of requests that may open a session, by SockJS session id, so authenticators see the
   * cookies and Authorization header SockJS drops. Bounded in count and age.
   */
  private readonly pendingHeaders = new Map<string, { headers: IncomingHttpHeaders; at: number }>();
  private readonly liveSessionIds = new Set<string>();
  private readonly prefix: string;

  constructor(options: SockJsEndpointOptions) {
    this.prefix = options.prefix;
    const server = sockjs.createServer({
      prefix: options.prefix,
      sockjs_url: options.sockjsClientUrl,
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
      const sessionId = this.sessionIdOf(conn.url ?? '');
      const pending = sessionId === undefined ? undefined : this.pendingHeaders.get(sessionId);
      if (sessionId !== undefined) {
        this.pendingHeaders.delete(sessionId);
        this.liveSessionIds.add(sessionId);
        conn.on('close', () => this.liveSessionIds.delete(sessionId));
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
    const sessionId = this.sessionIdOf(req.url ?? '');
    if (sessionId !== undefined && !this.liveSessionIds.has(sessionId) && !this.pendingHeaders.has(sessionId)) {
      this.remember(sessionId, req.headers);
    }
    return this.handler(req, res, head);
  }

  private remember(sessionId: string, headers: IncomingHttpHeaders): void {
    const now = Date.now();
    // Map iteration is insertion order: the oldest entries come first.
    for (const [id, entry] of this.pendingHeaders) {
      if (now - entry.at < PENDING_HEADERS_TTL_MS && this.pendingHeaders.size < PENDING_HEADERS_MAX) break;
      this.pendingHeaders.delete(id);
    }
    this.pendingHeaders.set(sessionId, { headers, at: now });
  }

  /** `/sockjs/<server>/<session>/<transport>?...` → `<session>`; undefined for other paths (info, iframe). */
  private sessionIdOf(url: string): string | undefined {
    if (!url.startsWith(this.prefix + '/')) return undefined;
    const q = url.indexOf('?');
    const parts = (q === -1 ? url : url.slice(0, q)).slice(this.prefix.length + 1).split('/');
    // Only requests that can open a session (receiving transports), not `xhr_send` / `jsonp_send`.
    return parts.length === 3 && parts[1] !== '' && !parts[2].endsWith('_send') ? parts[1] : undefined;
  }

  close(): void {
    for (const conn of this.connections) closeConnection(conn, 1001, 'Going away');
  }
}
