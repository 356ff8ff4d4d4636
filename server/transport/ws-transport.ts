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
import { corkForTick } from '../cork-per-tick';
import { FrameCache, MAX_COPIED_PAYLOAD_BYTES, frameHeader, frameHeaderBytes, framed } from './ws-frames';
import { SharedSocketReads } from './ws-reads';

export const STOMP_SUBPROTOCOLS = ['v12.stomp', 'v11.stomp', 'v10.stomp'] as const;

/**
 * A heart-beat EOL as a whole WebSocket frame from a server (FIN + text opcode, unmasked, length 1,
 * `\n`): what `ws` would build for `send(EOL)`. Shared and never written to.
 */
const HEARTBEAT_FRAME: Buffer = framed(HEARTBEAT_EOL, false);

/** What a {@link WsEndpoint} shares with each of its transports. */
export interface WsEndpointShared {
  /** The endpoint's frame cache: a fan-out frames each MESSAGE once (ws-frames.ts). */
  readonly frames: FrameCache;
  /** The endpoint's open sockets: a transport's is in it until it closes. */
  readonly openSockets: Set<WebSocket>;
  /** The endpoint's read buffer, which its sockets read into (ws-reads.ts). */
  readonly reads?: SharedSocketReads;
}

/** Adapts one `ws` socket to the session layer's {@link Transport}. */
export class WsTransport implements Transport {
  private events: TransportEvents | null = null;
  private closed = false;
  /** The peer sent a message above `maxMessageBytes`: ws closes with 1009, and so do we. */
  private tooLarge = false;
  /**
   * An upper bound of ws's `bufferedAmount` (see {@link bufferedAmountAbove}): its value at the last
   * query, plus every frame written since, plus what auto-pongs may have added. -1 while there is
   * none: until the first query (the handshake's response may still be queued), and for a ws that
   * gives no cap on its pongs. Always a small integer, so V8 keeps it in the object rather than in a
   * heap number of its own (16 bytes per socket).
   */
  private bufferedBound = -1;
  /** Frames shared with the endpoint's other sockets, when this socket's frames may bypass ws (see {@link send}). */
  private readonly frames: FrameCache | undefined;

  /** The endpoint's open sockets, when it tracks them. */
  private readonly openSockets: Set<WebSocket> | undefined;

  /**
   * The socket's listeners are functions shared by every socket, which find this transport through
   * the socket (`RelayWebSocket.relayTransport`): three closures and their context per socket were
   * ~0.3 KB of an idle session.
   * @param maxMessageBytes the `maxPayload` the socket's server was given.
   * @param shared the endpoint's frame cache (frames are then written straight to the TCP socket
   *   while that is the same as what ws would write, see {@link send}) and its set of open sockets.
   */
  constructor(
    private readonly socket: WebSocket,
    readonly handshake: HandshakeInfo,
    private readonly maxMessageBytes: number,
    shared?: WsEndpointShared,
  ) {
    this.frames = shared !== undefined && writesPlainServerFrames(socket) ? shared.frames : undefined;
    this.openSockets = shared?.openSockets;
    this.openSockets?.add(socket);
    (socket as RelayWebSocket).relayTransport = this;
    socket.on('message', onSocketMessage);
    // ws refuses a message above maxPayload as soon as its length is known (nothing is buffered) by
    // sending a 1009 close frame, before it emits 'error'. Listening on its receiver first lets the
    // session write an ERROR frame that goes out ahead of that close.
    (socket as unknown as { _receiver?: EventEmitter })._receiver?.prependListener('error', onReceiverError);
    socket.on('close', onSocketClose);
    // An 'error' is followed by 'close'; listening keeps it from being thrown at the process.
    socket.on('error', ignoreError);
    shared?.reads?.adopt(socket);
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

  get kind(): 'ws' {
    return 'ws';
  }

  get textOnly(): boolean {
    return false;
  }

  bind(events: TransportEvents): void {
    this.events = events;
    if (this.closed) events.close();
  }

  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }

  /**
   * `bufferedAmount > limitBytes`, without asking ws while the bound says it cannot be: the session
   * asks before every write, and ws's answer reads the stream state of the socket, a cold cache line
   * per receiver of a fan-out. The bytes queued grow only by what is written, which is our frames
   * (counted in {@link send}) and ws's automatic pongs, of which ws keeps at most
   * `maxPendingAutoPongs` unwritten (it terminates the connection past that), so the bound is never
   * below the real figure and the answer is the same as the comparison's.
   */
  bufferedAmountAbove(limitBytes: number): boolean {
    if (boundKeepsUnder(this.bufferedBound, limitBytes, this.socket)) return false;
    const buffered = this.socket.bufferedAmount;
    this.bufferedBound = boundAfterAsking(this.socket, buffered);
    return buffered > limitBytes;
  }

  /**
   * Frames written in one turn of the event loop (a burst of MESSAGEs the broker handed over
   * together) leave in one `writev` rather than one system call each: the TCP socket is corked on
   * the first write of the tick and uncorked right after it.
   *
   * The frame goes straight to the TCP socket, built once per payload for every socket of the
   * endpoint (ws-frames.ts), while that is byte for byte what ws would write: a server socket
   * without extensions (no masking, no compression) whose sender has nothing queued and is not in
   * the middle of a fragmented message. ws's own writes (pongs, the close frame) go to the same
   * socket, so the order of frames is the order of the calls; its `bufferedAmount` counts these
   * bytes, which sit in the same stream. Otherwise ws frames and writes it.
   */
  send(data: Buffer, binary: boolean): void {
    const socket = this.socket;
    if (this.closed || socket.readyState !== socket.OPEN) return;
    const tcp = tcpOf(socket);
    if (tcp !== undefined) corkForTick(tcp);
    const frames = this.framesWrittenThrough();
    if (tcp !== undefined && frames !== undefined) {
      if (data.length <= MAX_COPIED_PAYLOAD_BYTES) {
        tcp.write(frames.frameOf(data, binary));
      } else {
        tcp.write(frameHeader(data.length, binary));
        tcp.write(data);
      }
    } else {
      socket.send(data, { binary });
    }
    this.bufferedBound = boundGrownBy(this.bufferedBound, data.length + frameHeaderBytes(data.length));
  }

  /**
   * One write of a pre-built frame straight to the TCP socket: an idle session's only traffic, so
   * it skips what {@link send} does per call (the cork and its next-tick uncork; ws's frame header,
   * options object and two writes where ws frames it), ~1 KB of garbage per heart-beat. Under the
   * same condition as {@link send}'s own frames, so it is in order with everything sent before; a
   * write corked by a send of this tick just joins it. Otherwise the EOL goes through {@link send}.
   */
  sendHeartbeat(): void {
    const socket = this.socket;
    if (this.closed || socket.readyState !== socket.OPEN) return;
    const tcp = tcpOf(socket);
    if (tcp === undefined || this.framesWrittenThrough() === undefined) {
      this.send(HEARTBEAT_EOL, false);
      return;
    }
    tcp.write(HEARTBEAT_FRAME);
    this.bufferedBound = boundGrownBy(this.bufferedBound, HEARTBEAT_FRAME.length);
  }

  /**
   * The endpoint's frames, when a frame written straight to the TCP socket now is byte for byte what
   * ws would write (see {@link send}); undefined when ws must frame and write it.
   */
  private framesWrittenThrough(): FrameCache | undefined {
    return this.frames !== undefined && senderIsIdle(this.socket) ? this.frames : undefined;
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

/** A heart-beat read outside ws (ws-reads.ts): the socket's transport takes it as a message. */
function receiveHeartbeat(socket: WebSocket, eol: Buffer): boolean {
  const transport = (socket as RelayWebSocket).relayTransport;
  if (transport === undefined) return false;
  transport.received(eol);
  return true;
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
  (socketOfReceiver(this) as RelayWebSocket | undefined)?.relayTransport?.receiverFailed(err);
}

/** The socket of one of ws's Receivers (see {@link onReceiverError}); for a listener on its 'error'. */
export function socketOfReceiver(receiver: object): WebSocket | undefined {
  for (const key of Object.getOwnPropertySymbols(receiver)) {
    const value = (receiver as Record<symbol, unknown>)[key];
    if (value instanceof WebSocket) return value;
  }
  return undefined;
}

/** The TCP socket under a ws socket (undefined once ws let go of it). */
export function tcpOf(socket: WebSocket): Duplex | undefined {
  return (socket as unknown as { _socket?: Duplex })._socket;
}

/** The parts of ws's socket and sender that say whether a frame may bypass them. */
interface WsInternals {
  _isServer?: boolean;
  _extensions?: object;
  _sender?: { _state?: number; _queue?: unknown[]; _firstFragment?: boolean };
}

/**
 * A server socket (frames unmasked) with no extension negotiated (no permessage-deflate): its
 * frames are the same bytes on every socket.
 */
export function writesPlainServerFrames(socket: WebSocket): boolean {
  const ws = socket as unknown as WsInternals;
  return ws._isServer === true && ws._extensions !== undefined && Object.keys(ws._extensions).length === 0;
}

/**
 * ws's sender has nothing queued (state DEFAULT: no compression or Blob read under way) and no
 * fragmented message open.
 */
export function senderIsIdle(socket: WebSocket): boolean {
  const sender = (socket as unknown as WsInternals)._sender;
  return (
    sender !== undefined &&
    sender._state === 0 &&
    sender._queue !== undefined &&
    sender._queue.length === 0 &&
    sender._firstFragment === true
  );
}

/** The largest control frame a server writes: a pong echoes a ping's payload, at most 125 bytes. */
const MAX_CONTROL_FRAME_BYTES = 2 + 125;

/**
 * At most how many bytes of automatic pongs `socket` may hold unwritten: ws answers each ping and
 * counts the answers not yet written, terminating the connection past `maxPendingAutoPongs`. A ws
 * without that cap (0, or an older ws without the field) gives no bound (-1): every check then asks.
 */
export function autoPongBytesAtMost(socket: WebSocket): number {
  const max = (socket as unknown as { _maxPendingAutoPongs?: number })._maxPendingAutoPongs;
  return typeof max === 'number' && max > 0 ? max * MAX_CONTROL_FRAME_BYTES : -1;
}

/*
 * The upper bound of ws's `bufferedAmount` a transport keeps (see WsTransport.bufferedAmountAbove),
 * as a small integer per socket: -1 when there is none (before the first ask, or a ws that does not
 * cap its unwritten pongs), so every check asks ws.
 */

/**
 * The bound says `bufferedAmount <= limitBytes` without asking ws. Once closing, ws may have written
 * its close frame, which the bound does not count: then ask.
 */
export function boundKeepsUnder(bound: number, limitBytes: number, socket: WebSocket): boolean {
  return bound >= 0 && bound <= limitBytes && socket.readyState === socket.OPEN;
}

/** The bound after asking ws: what it holds plus what its automatic pongs may add; -1 when they are not capped. */
export function boundAfterAsking(socket: WebSocket, buffered: number): number {
  const pongs = autoPongBytesAtMost(socket);
  return pongs < 0 ? -1 : buffered + pongs;
}

/** The bound after `bytes` more were written to the socket. */
export function boundGrownBy(bound: number, bytes: number): number {
  return bound < 0 ? bound : bound + bytes;
}

/** One listener for every socket's 'error' (what matters follows as 'close'), not a closure each. */
export function ignoreError(): void {}

export function toBuffer(data: RawData): Buffer {
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
   * Shared by this endpoint's transports: the frame cache (a fan-out frames each MESSAGE once,
   * ws-frames.ts) and the sockets not closed yet, for {@link close}, kept here rather than by ws
   * (`clientTracking`), which adds a 'close' closure to every socket for it.
   */
  private readonly shared: WsEndpointShared = {
    frames: new FrameCache(),
    openSockets: new Set<WebSocket>(),
    reads: new SharedSocketReads(receiveHeartbeat),
  };
  /**
   * The remote address of the last connection: behind a load balancer or proxy most connections
   * come from the same few addresses, and each handshake keeps its own copy for the session's life.
   */
  private lastRemoteAddress = '';

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
        remoteAddress: this.sharedRemoteAddress(req.socket.remoteAddress ?? ''),
        // Mostly exactly the endpoint's path: then its string, not one per session.
        url: req.url === this.options.path ? this.options.path : (req.url ?? ''),
        headers: req.headers,
        protocol: ws.protocol || undefined,
      };
      this.options.onTransport(new WsTransport(ws, handshake, this.options.maxPayload, this.shared));
    });
    return true;
  }

  /** `address`, or the equal string of the previous connection (see {@link lastRemoteAddress}). */
  private sharedRemoteAddress(address: string): string {
    if (address !== this.lastRemoteAddress) this.lastRemoteAddress = address;
    return this.lastRemoteAddress;
  }

  /**
   * Closes every open socket (after sessions were drained) and the server; resolves once each of
   * those sockets has closed (its session heard so), as ws's own client tracking made it wait.
   */
  close(): Promise<void> {
    const sockets = [...this.shared.openSockets];
    const closed = sockets.map((socket) => new Promise<void>((resolve) => socket.once('close', () => resolve())));
    for (const socket of sockets) socket.terminate();
    const serverClosed = new Promise<void>((resolve) => this.wss.close(() => resolve()));
    return Promise.all([...closed, serverClosed]).then(() => undefined);
  }
}

/** Path part of a request URL, without building a URL object on every request. */
export function pathOf(url: string | undefined): string {
  if (!url) return '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
