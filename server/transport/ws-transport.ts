/**
 * Plain WebSocket transport (`ws`), mounted on the relay's HTTP server at `/ws` (no second port).
 * Subprotocols: v12.stomp, v11.stomp, v10.stomp (the highest the client offers wins; none offered is
 * fine too: stomp.js sends them, other clients may not).
 */
import type { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import type { HandshakeInfo, Transport, TransportEvents } from './transport';
import { FrameCache, MAX_COPIED_PAYLOAD_BYTES, frameHeader, frameHeaderBytes } from './ws-frames';

export const STOMP_SUBPROTOCOLS = ['v12.stomp', 'v11.stomp', 'v10.stomp'] as const;

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
   * An upper bound of ws's `bufferedAmount` (see {@link bufferedAmountAbove}): its value at the last
   * query, plus every frame written since, plus what auto-pongs may have added. Infinity until the
   * first query (the handshake's response may still be queued).
   */
  private bufferedBound = Infinity;
  /** Frames shared with the endpoint's other sockets, when this socket's frames may bypass ws (see {@link send}). */
  private readonly frames: FrameCache | undefined;

  /**
   * @param maxMessageBytes the `maxPayload` the socket's server was given.
   * @param frames the endpoint's frame cache: frames are then written straight to the TCP socket
   *   while that is the same as what ws would write (see {@link send}).
   */
  constructor(
    private readonly socket: WebSocket,
    readonly handshake: HandshakeInfo,
    maxMessageBytes: number,
    frames?: FrameCache,
  ) {
    this.frames = frames !== undefined && writesPlainServerFrames(socket) ? frames : undefined;
    socket.on('message', (data: RawData) => this.events?.data(toBuffer(data)));
    // ws refuses a message above maxPayload as soon as its length is known (nothing is buffered) by
    // sending a 1009 close frame, before it emits 'error'. Listening on its receiver first lets the
    // session write an ERROR frame that goes out ahead of that close.
    const receiver = (socket as unknown as { _receiver?: EventEmitter })._receiver;
    receiver?.prependListener('error', (err: { code?: string }) => {
      if (err.code !== 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' || this.closed) return;
      this.tooLarge = true;
      this.events?.messageTooLarge(maxMessageBytes);
    });
    socket.on('close', () => this.finish());
    // An 'error' is followed by 'close'; listening keeps it from being thrown at the process.
    socket.on('error', ignoreError);
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
    if (this.bufferedBound <= limitBytes) return false;
    const buffered = this.socket.bufferedAmount;
    this.bufferedBound = buffered + autoPongBytesAtMost(this.socket);
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
    const tcp = (socket as unknown as { _socket?: Duplex })._socket;
    if (!this.corked && tcp !== undefined) {
      this.corked = true;
      tcp.cork();
      process.nextTick(() => {
        this.corked = false;
        tcp.uncork();
      });
    }
    if (this.frames !== undefined && tcp !== undefined && senderIsIdle(socket)) {
      if (data.length <= MAX_COPIED_PAYLOAD_BYTES) {
        tcp.write(this.frames.frameOf(data, binary));
      } else {
        tcp.write(frameHeader(data.length, binary));
        tcp.write(data);
      }
    } else {
      socket.send(data, { binary });
    }
    this.bufferedBound += data.length + frameHeaderBytes(data.length);
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

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.events?.close();
  }
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
function writesPlainServerFrames(socket: WebSocket): boolean {
  const ws = socket as unknown as WsInternals;
  return ws._isServer === true && ws._extensions !== undefined && Object.keys(ws._extensions).length === 0;
}

/**
 * ws's sender has nothing queued (state DEFAULT: no compression or Blob read under way) and no
 * fragmented message open.
 */
function senderIsIdle(socket: WebSocket): boolean {
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
 * without that cap (0, or an older ws without the field) gives no bound: every check then asks.
 */
function autoPongBytesAtMost(socket: WebSocket): number {
  const max = (socket as unknown as { _maxPendingAutoPongs?: number })._maxPendingAutoPongs;
  return typeof max === 'number' && max > 0 ? max * MAX_CONTROL_FRAME_BYTES : Infinity;
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
  /** Shared by this endpoint's transports: a fan-out frames each MESSAGE once (ws-frames.ts). */
  private readonly frames = new FrameCache();

  constructor(private readonly options: WsEndpointOptions) {
    this.wss = new WebSocketServer({
      noServer: true,
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
      this.options.onTransport(new WsTransport(ws, handshake, this.options.maxPayload, this.frames));
    });
    return true;
  }

  /** Closes every open socket (after sessions were drained) and the server. */
  close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    return new Promise((resolve) => this.wss.close(() => resolve()));
  }
}

/** Path part of a request URL, without building a URL object on every request. */
export function pathOf(url: string | undefined): string {
  if (!url) return '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
