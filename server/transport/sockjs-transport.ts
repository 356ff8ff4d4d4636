/**
 * SockJS transport (`sockjs`), at `/sockjs`, with all its transports (websocket, xhr-streaming,
 * xhr-polling, eventsource, iframe, jsonp). SockJS carries text only: STOMP bytes arrive as strings
 * and leave as strings, so a body that is not valid UTF-8 cannot cross it (see docs/protocol.md).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
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

  constructor(private readonly conn: sockjs.Connection) {
    this.handshake = {
      remoteAddress: conn.remoteAddress ?? '',
      url: conn.url ?? '',
      // SockJS keeps only a few request headers (no Origin, Authorization or Cookie): tokens come
      // in CONNECT headers or the `access_token` query parameter instead.
      headers: conn.headers ?? {},
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
    let total = 0;
    for (const s of session.send_buffer ?? []) total += s.length;
    const sock = session.recv?.connection ?? session.recv?.response?.connection;
    return total + (sock?.writableLength ?? 0);
  }

  send(data: Buffer, _binary: boolean): void {
    if (this.closed) return;
    this.conn.write(data.toString('utf8'));
  }

  close(code = 1000, reason = 'Normal closure'): void {
    if (this.closed) return;
    this.conn.close(String(code), reason.slice(0, 120));
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.events?.close();
  }
}

interface SockJsSessionInternals {
  send_buffer?: string[];
  recv?: { connection?: { writableLength?: number }; response?: { connection?: { writableLength?: number } } };
}

export interface SockJsEndpointOptions {
  /** URL prefix, e.g. `/sockjs`. */
  prefix: string;
  /** URL of the sockjs-client bundle SockJS's iframe transports load. */
  sockjsClientUrl?: string;
  logger: Logger;
  onTransport(transport: Transport): void;
}

type SockJsHandler = (req: IncomingMessage, res: ServerResponse | Duplex, head?: Buffer) => boolean;

/** Owns one SockJS server; {@link handle} returns false for requests outside its prefix. */
export class SockJsEndpoint {
  private readonly handler: SockJsHandler;
  private readonly connections = new Set<sockjs.Connection>();

  constructor(options: SockJsEndpointOptions) {
    const server = sockjs.createServer({
      prefix: options.prefix,
      sockjs_url: options.sockjsClientUrl,
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
      options.onTransport(new SockJsTransport(conn));
    });
    // `listener().getHandler()` is what installHandlers() wraps around the HTTP server; calling it
    // ourselves lets the relay put its Origin check in front of SockJS.
    const listener = (server as unknown as { listener(o: object): { getHandler(): SockJsHandler } }).listener({});
    this.handler = listener.getHandler();
  }

  /** True when the request belonged to SockJS (and is now handled). */
  handle(req: IncomingMessage, res: ServerResponse | Duplex, head?: Buffer): boolean {
    return this.handler(req, res, head);
  }

  close(): void {
    for (const conn of this.connections) conn.close('1001', 'Going away');
  }
}
