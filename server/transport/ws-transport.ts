/**
 * Plain WebSocket transport (`ws`), mounted on the relay's HTTP server at `/ws` (no second port).
 * Subprotocols: v12.stomp, v11.stomp, v10.stomp (the highest the client offers wins; none offered is
 * fine too: stomp.js sends them, other clients may not).
 */
import type { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { HEARTBEAT_EOL } from '../codec/serializer';
import type { HandshakeInfo, Transport, TransportEvents } from './transport';

export const STOMP_SUBPROTOCOLS = ['v12.stomp', 'v11.stomp', 'v10.stomp'] as const;

/**
 * A heart-beat EOL as a whole WebSocket frame from a server (FIN + text opcode, unmasked, length 1,
 * `\n`): what `ws` would build for `send(EOL)`. Shared and never written to.
 */
const HEARTBEAT_FRAME: Buffer = Buffer.from([0x81, 0x01, HEARTBEAT_EOL[0]!]);

/** The parts of `ws`'s Sender that tell whether it writes through at once (state 0, nothing queued). */
interface WsSenderState {
  _state: number;
  _queue: unknown[];
}

/** Adapts one `ws` socket to the session layer's {@link Transport}. */
export class WsTransport implements Transport {
  readonly kind = 'ws' as const;
  readonly textOnly = false;
  private events: TransportEvents | null = null;
  private closed = false;
  /** The peer sent a message above `maxMessageBytes`: ws closes with 1009, and so do we. */
  private tooLarge = false;
  /** The TCP socket is corked until the end of this tick (see {@link send}). */
  private corked = false;

  /**
   * The socket's listeners are functions shared by every socket, which find this transport through
   * the socket (`RelayWebSocket.relayTransport`): three closures and their context per socket were
   * ~0.3 KB of an idle session.
   * @param maxMessageBytes the `maxPayload` the socket's server was given.
   */
  constructor(
    private readonly socket: WebSocket,
    readonly handshake: HandshakeInfo,
    private readonly maxMessageBytes: number,
    /** The endpoint's open sockets: this one is in it until it closes. */
    private readonly openSockets?: Set<WebSocket>,
  ) {
    openSockets?.add(socket);
    (socket as RelayWebSocket).relayTransport = this;
    socket.on('message', onSocketMessage);
    // ws refuses a message above maxPayload as soon as its length is known (nothing is buffered) by
    // sending a 1009 close frame, before it emits 'error'. Listening on its receiver first lets the
    // session write an ERROR frame that goes out ahead of that close.
    (socket as unknown as { _receiver?: EventEmitter })._receiver?.prependListener('error', onReceiverError);
    socket.on('close', onSocketClose);
    // An 'error' is followed by 'close'; listening keeps it from being thrown at the process.
    socket.on('error', ignoreError);
  }

  /** @internal a message from the peer (see {@link onSocketMessage}). */
  received(data: RawData): void {
    this.events?.data(toBuffer(data));
  }

  /** @internal ws's receiver failed (see {@link onReceiverError}). */
  receiverFailed(err: { code?: string }): void {
    if (err.code !== 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' || this.closed) return;
    this.tooLarge = true;
    this.events?.messageTooLarge(this.maxMessageBytes);
  }

  bind(events: TransportEvents): void {
    this.events = events;
    if (this.closed) events.close();
  }

  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }

  /**
   * Frames written in one turn of the event loop (a burst of MESSAGEs the broker handed over
   * together) leave in one `writev` rather than one system call each: the TCP socket is corked on
   * the first write of the tick and uncorked right after it.
   */
  send(data: Buffer, binary: boolean): void {
    if (this.closed || this.socket.readyState !== this.socket.OPEN) return;
    if (!this.corked) {
      const tcp = (this.socket as unknown as { _socket?: Duplex })._socket;
      if (tcp !== undefined) {
        this.corked = true;
        tcp.cork();
        process.nextTick(() => {
          this.corked = false;
          tcp.uncork();
        });
      }
    }
    this.socket.send(data, { binary });
  }

  /**
   * One write of a pre-built frame straight to the TCP socket: an idle session's only traffic, so
   * it skips what {@link send} does per call (ws's frame header Buffer, options object and two
   * corked writes; the cork and its next-tick closure), ~1 KB of garbage per heart-beat. In order
   * with everything sent before: ws's Sender writes through to the same socket at once while it is
   * in its default state with nothing queued, and otherwise (never with deflate off and Buffers
   * only) the EOL goes through ws.
   */
  sendHeartbeat(): void {
    if (this.closed || this.socket.readyState !== this.socket.OPEN) return;
    const internals = this.socket as unknown as { _socket?: Duplex; _sender?: WsSenderState };
    const tcp = internals._socket;
    const sender = internals._sender;
    if (tcp === undefined || sender === undefined || sender._state !== 0 || sender._queue.length !== 0) {
      this.send(HEARTBEAT_EOL, false);
      return;
    }
    tcp.write(HEARTBEAT_FRAME);
  }

  close(code = 1000, reason = ''): void {
    if (this.closed) return;
    // ws flushes queued data before its close frame; terminate if the peer never answers the close.
    this.socket.close(this.tooLarge ? 1009 : code, reason.slice(0, 120));
    const timer = setTimeout(() => this.socket.terminate(), 2_000);
    timer.unref();
    this.socket.once('close', () => clearTimeout(timer));
  }

  destroy(): void {
    this.socket.terminate();
  }

  /** @internal the socket closed (see {@link onSocketClose}). */
  finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.openSockets?.delete(this.socket);
    this.events?.close();
  }
}

/**
 * The `ws` socket class of {@link WsEndpoint}: a plain WebSocket with a slot for its transport,
 * declared so that setting it does not change the object's shape.
 */
class RelayWebSocket extends WebSocket {
  /** @internal */
  relayTransport: WsTransport | undefined = undefined;
}

/** Every socket's 'message' listener (ws calls it with the socket as `this`). */
function onSocketMessage(this: WebSocket, data: RawData): void {
  (this as RelayWebSocket).relayTransport?.received(data);
}

/** Every socket's 'close' listener. */
function onSocketClose(this: WebSocket): void {
  (this as RelayWebSocket).relayTransport?.finish();
}

/**
 * Every socket's receiver 'error' listener (`this` is ws's Receiver). The receiver knows its socket
 * only under a symbol private to ws, so it is looked for among the receiver's own symbol keys: this
 * runs once, when a connection fails, never per message.
 */
function onReceiverError(this: object, err: { code?: string }): void {
  for (const key of Object.getOwnPropertySymbols(this)) {
    const value = (this as Record<symbol, unknown>)[key];
    if (value instanceof WebSocket) {
      (value as RelayWebSocket).relayTransport?.receiverFailed(err);
      return;
    }
  }
}

/** One listener for every socket's 'error' (what matters follows as 'close'), not a closure each. */
function ignoreError(): void {}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

export interface WsEndpointOptions {
  /** Path the endpoint answers on, e.g. `/ws`. */
  path: string;
  /**
   * Largest WebSocket message accepted (bytes); the client is told (ERROR MESSAGE_TOO_LARGE) before
   * the 1009 close. Frames have their own limits (the parser's): a message may hold several.
   */
  maxPayload: number;
  onTransport(transport: Transport): void;
}

/**
 * Owns the `ws` server for one path. {@link handleUpgrade} returns false for other paths so the
 * caller can pass the request on (SockJS has its own WebSocket path).
 */
export class WsEndpoint {
  private readonly wss: WebSocketServer;
  /**
   * Sockets not closed yet, for {@link close}. Kept here rather than by ws (`clientTracking`), which
   * adds a 'close' closure to every socket for it.
   */
  private readonly sockets = new Set<WebSocket>();

  constructor(private readonly options: WsEndpointOptions) {
    this.wss = new WebSocketServer({
      noServer: true,
      WebSocket: RelayWebSocket,
      clientTracking: false,
      maxPayload: options.maxPayload,
      perMessageDeflate: false,
      handleProtocols: (offered) => STOMP_SUBPROTOCOLS.find((p) => offered.has(p)) ?? false,
    });
  }

  /** True when the request was for this endpoint (and is now handled). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    if (pathOf(req.url) !== this.options.path) return false;
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const handshake: HandshakeInfo = {
        remoteAddress: req.socket.remoteAddress ?? '',
        url: req.url ?? '',
        headers: req.headers,
        protocol: ws.protocol || undefined,
      };
      this.options.onTransport(new WsTransport(ws, handshake, this.options.maxPayload, this.sockets));
    });
    return true;
  }

  /** Closes every open socket (after sessions were drained) and the server. */
  close(): Promise<void> {
    for (const socket of [...this.sockets]) socket.terminate();
    return new Promise((resolve) => this.wss.close(() => resolve()));
  }
}

/** Path part of a request URL, without building a URL object on every request. */
export function pathOf(url: string | undefined): string {
  if (!url) return '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
