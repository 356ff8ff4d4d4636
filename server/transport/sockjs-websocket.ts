/**
 * SockJS's two WebSocket transports served by the relay's own `ws` machinery instead of sockjs's
 * (faye-websocket, websocket-driver, a sockjs Session and WebSocketReceiver per connection, a JSON
 * frame per write: ~15 KB of heap per idle session against ~5 KB on `/ws`):
 *
 * - framed, `/<prefix>/<server>/<session>/websocket` (what sockjs-client uses first): SockJS's
 *   protocol as sockjs-node 0.3.24 speaks it (sockjs-framing.ts): `o` on open, every write one
 *   `a["…"]`, a WebSocket ping every 25 s with 10 s for its pong, `c[code,"reason"]` and then a
 *   WebSocket close 1000 "Normal closure" when the server ends the session; broken framing closes
 *   the WebSocket 3000 "Broken framing." without a `c` frame.
 * - raw, `/<prefix>/websocket`: a plain text WebSocket (no subprotocol, no heart-beats of its own).
 *
 * Only upgrades that both ws and faye-websocket would accept are taken here ({@link
 * SockJsWebSockets.kindOf}: RFC 6455 version 13, a well-formed key and subprotocol header); sockjs
 * answers every other request on these paths itself, so its 400/404/405 answers stay its own.
 *
 * Writes take WsTransport's direct path (ws-transport.ts, ws-frames.ts): straight to the TCP socket
 * while ws has nothing queued, corked for the tick, and a MESSAGE's frame, `a["<quoted STOMP
 * frame>"]` included, built once per payload for every socket of the endpoint.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { HEARTBEAT_EOL } from '../codec/serializer';
import { corkForTick } from '../cork-per-tick';
import { DelayEntry, FixedDelayQueue } from './fixed-delay-queue';
import type { SockJsBinding } from './sockjs-credential';
import {
  BROKEN_FRAMING,
  NO_HEARTBEAT_RESPONSE,
  OPEN_FRAME,
  SOCKJS_HEARTBEAT_DELAY_MS,
  SOCKJS_PONG_TIMEOUT_MS,
  WEBSOCKET_NORMAL_CLOSE,
  closeFrame,
  messageFrameOf,
  messagesOf,
  sockjsCloseCode,
  sockjsPathOf,
  type SockJsClose,
} from './sockjs-framing';
import type { HandshakeInfo, Transport, TransportEvents } from './transport';
import { SharedSocketReads, STOMP_HEARTBEATS, type HeartbeatPayload } from './ws-reads';
import { FrameCache, MAX_COPIED_PAYLOAD_BYTES, frameHeader, frameHeaderBytes, framed } from './ws-frames';
import {
  boundAfterAsking,
  boundGrownBy,
  boundKeepsUnder,
  ignoreError,
  senderIsIdle,
  socketOfReceiver,
  tcpOf,
  toBuffer,
  writesPlainServerFrames,
} from './ws-transport';

/** SockJS's two WebSocket transports, by the `protocol` sockjs gives their connections. */
export type SockJsWebSocketKind = 'websocket' | 'websocket-raw';

/**
 * A STOMP heart-beat EOL from sockjs-client (`["\n"]`), and what the session is given for it: one
 * shared buffer, only read (the parser reads chunks in place and copies what spans them).
 */
const CLIENT_HEARTBEAT = Buffer.from(JSON.stringify(['\n']));
const HEARTBEAT_DATA = Buffer.from('\n');

/**
 * What a heart-beat is on these sockets, for reads that skip ws (ws-reads.ts): the framed
 * transport's `["\n"]`, the raw one's bare EOL. Either goes to the transport as the message it is.
 */
const SOCKJS_HEARTBEATS: readonly HeartbeatPayload[] = [{ payload: CLIENT_HEARTBEAT, message: CLIENT_HEARTBEAT }, ...STOMP_HEARTBEATS];

/** The open frame; one buffer, so the frame cache frames it once. */
const OPEN_BYTES = Buffer.from(OPEN_FRAME);

/** An empty ping from a server (FIN + opcode 9, unmasked, length 0): what faye-websocket sends as sockjs's heart-beat. */
const PING_FRAME = Buffer.from([0x89, 0x00]);

/** A STOMP heart-beat EOL as each transport sends it, whole WebSocket frames. Shared, never written to. */
const EOL_FRAME: Record<SockJsWebSocketKind, Buffer> = {
  websocket: framed(messageFrameOf(HEARTBEAT_EOL), false),
  'websocket-raw': framed(HEARTBEAT_EOL, false),
};

/**
 * How faye-websocket closes on what ws's receiver refuses, where sockjs's clients could tell the
 * difference: the code and reason it sends (ws's own close for these carries no reason). Other
 * protocol errors close as ws does (1002 and the like).
 */
const RECEIVER_ERROR_CLOSES: Readonly<Record<string, SockJsClose>> = {
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: { code: 1009, reason: 'WebSocket frame length too large' },
  WS_ERR_INVALID_UTF8: { code: 1007, reason: 'Could not decode a text frame as UTF-8' },
};

/** The request headers sockjs keeps on a connection it opens without a session (its raw endpoint). */
const HEADERS_SOCKJS_KEEPS = [
  'referer',
  'x-client-ip',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-cluster-client-ip',
  'via',
  'x-real-ip',
  'x-forwarded-proto',
  'x-ssl',
  'dnt',
  'host',
  'user-agent',
  'accept-language',
] as const;

/** A subprotocol name: an RFC 7230 token, what ws's parser of `Sec-WebSocket-Protocol` takes. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** ws's test of a `Sec-WebSocket-Key` (faye-websocket takes any): a key ws would refuse goes to sockjs. */
const WS_KEY = /^[+/0-9A-Za-z]{22}==$/;

/** What a {@link SockJsWebSockets} shares with each of its transports. */
interface SockJsWebSocketShared {
  /** `a["…"]` frames of STOMP payloads, one per payload for every framed socket. */
  readonly messages: FrameCache;
  /** Plain text frames, for the raw endpoint. */
  readonly plain: FrameCache;
  readonly pings: FixedDelayQueue<SockJsWebSocketTransport>;
  readonly pongs: FixedDelayQueue<SockJsWebSocketTransport>;
  readonly open: Set<SockJsWebSocketTransport>;
  /** The endpoint's read buffer, which its sockets read into (ws-reads.ts). */
  readonly reads: SharedSocketReads;
  /** The endpoint's hook for a socket that closed (the SockJS session's binding goes with it). */
  readonly closed: (transport: SockJsWebSocketTransport) => void;
}

/** Adapts one SockJS WebSocket (framed or raw) on a `ws` socket to the session layer's {@link Transport}. */
export class SockJsWebSocketTransport implements Transport {
  readonly kind = 'sockjs' as const;
  readonly textOnly = true;
  private events: TransportEvents | null = null;
  /** close() or destroy() ran, or the socket closed: nothing more goes out. */
  private ending = false;
  /** The session heard `close`. */
  private reported = false;
  /** An upper bound of ws's `bufferedAmount`, as WsTransport keeps one (see its `bufferedAmountAbove`). */
  private bufferedBound = -1;
  /** Whether frames may bypass ws on this socket at all (a server socket without extensions). */
  private readonly direct: boolean;
  private readonly framed: boolean;
  /** Framed only: the wait for the next heart-beat ping, and for the pong of the last one. */
  private readonly pingWait: DelayEntry<SockJsWebSocketTransport> | undefined;
  private pongWait: DelayEntry<SockJsWebSocketTransport> | undefined;

  /**
   * @param sessionId the SockJS session id of a framed URL, and `binding` the credential it is
   *   bound to while open (sockjs-credential.ts), for the endpoint's bookkeeping.
   */
  constructor(
    private readonly socket: SockJsSocket,
    readonly handshake: HandshakeInfo,
    private readonly shared: SockJsWebSocketShared,
    readonly sessionId: string | undefined,
    readonly binding: SockJsBinding | undefined,
  ) {
    this.framed = handshake.protocol === 'websocket';
    this.direct = writesPlainServerFrames(socket);
    socket.sockjsTransport = this;
    socket.on('message', onSocketMessage);
    // Ahead of ws's own listener, which closes without faye's reason (see RECEIVER_ERROR_CLOSES).
    (socket as unknown as { _receiver?: NodeJS.EventEmitter })._receiver?.prependListener('error', onReceiverError);
    socket.on('close', onSocketClose);
    socket.on('error', ignoreError);
    shared.open.add(this);
    shared.reads.adopt(socket);
    if (this.framed) {
      socket.on('pong', onSocketPong);
      this.pingWait = new DelayEntry(this);
      this.write(OPEN_BYTES, shared.plain);
      shared.pings.add(this.pingWait);
    }
  }

  bind(events: TransportEvents): void {
    this.events = events;
    if (this.reported) events.close();
  }

  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }

  /** `bufferedAmount > limitBytes`, asking ws only when the bound could be over it (as WsTransport). */
  bufferedAmountAbove(limitBytes: number): boolean {
    if (boundKeepsUnder(this.bufferedBound, limitBytes, this.socket)) return false;
    const buffered = this.socket.bufferedAmount;
    this.bufferedBound = boundAfterAsking(this.socket, buffered);
    return buffered > limitBytes;
  }

  /** One STOMP chunk: an `a["…"]` frame (framed) or a text frame (raw). `binary` is ignored: SockJS is text only. */
  send(data: Buffer, _binary: boolean): void {
    if (this.ending || this.socket.readyState !== this.socket.OPEN) return;
    if (this.framed) this.write(data, this.shared.messages);
    else this.write(data, this.shared.plain);
  }

  /** One STOMP heart-beat EOL, a pre-built frame straight to the TCP socket when it may bypass ws. */
  sendHeartbeat(): void {
    if (this.ending || this.socket.readyState !== this.socket.OPEN) return;
    const tcp = tcpOf(this.socket);
    if (tcp === undefined || !this.direct || !senderIsIdle(this.socket)) {
      this.send(HEARTBEAT_EOL, false);
      return;
    }
    const frame = EOL_FRAME[this.framed ? 'websocket' : 'websocket-raw'];
    tcp.write(frame);
    this.bufferedBound = boundGrownBy(this.bufferedBound, frame.length);
  }

  /**
   * Ends the session as sockjs does: framed, `c[code,"reason"]` then the WebSocket close 1000
   * "Normal closure"; raw, the WebSocket close itself (codes it cannot carry become 1000, see
   * sockjsCloseCode). The session hears the close at once, as from sockjs.
   */
  close(code = 1000, reason = 'Normal closure'): void {
    if (this.ending) return;
    this.ending = true;
    this.stopHeartbeats();
    const socket = this.socket;
    if (socket.readyState === socket.OPEN) {
      const cut = reason.slice(0, 120);
      if (this.framed) {
        this.write(Buffer.from(closeFrame(code, cut)), this.shared.plain);
        socket.close(WEBSOCKET_NORMAL_CLOSE.code, WEBSOCKET_NORMAL_CLOSE.reason);
      } else {
        socket.close(sockjsCloseCode(code, 'websocket-raw'), cut);
      }
      // ws flushes what is queued before its close frame; terminate if the peer never answers it.
      const timer = setTimeout(() => socket.terminate(), 2_000);
      timer.unref();
      socket.once('close', () => clearTimeout(timer));
    }
    this.finish();
  }

  destroy(): void {
    this.ending = true;
    this.stopHeartbeats();
    this.socket.terminate();
    this.finish();
  }

  /** @internal a message from the peer (see {@link onSocketMessage}). */
  received(data: RawData): void {
    if (this.ending) return;
    const bytes = toBuffer(data);
    if (!this.framed) {
      this.events?.data(bytes);
      return;
    }
    // An idle client's only traffic: no string, JSON array or Buffer made for it.
    if (bytes.length === CLIENT_HEARTBEAT.length && bytes.equals(CLIENT_HEARTBEAT)) {
      this.events?.data(HEARTBEAT_DATA);
      return;
    }
    // A binary message is read as its text: sockjs's receiver JSON-parses whatever it gets.
    const messages = messagesOf(bytes.toString('utf8'));
    if (messages === undefined) {
      this.closeWebSocket(BROKEN_FRAMING);
      return;
    }
    for (const message of messages) {
      if (this.ending) return;
      this.events?.data(Buffer.from(message, 'utf8'));
    }
  }

  /**
   * @internal ws's receiver refused what the peer sent (see {@link onReceiverError}). A message
   * above the limit closes with faye's 1009 and no ERROR, as on sockjs: the session is told only
   * that the transport closed (the STOMP ERROR that /ws sends first is not sent here).
   */
  receiverFailed(err: { code?: string }): void {
    if (this.ending) return;
    const close = err.code === undefined ? undefined : RECEIVER_ERROR_CLOSES[err.code];
    if (close !== undefined) this.closeWebSocket(close);
  }

  /** @internal the next heart-beat is due (framed only): an empty ping, and 10 s for its pong. */
  heartbeatDue(): void {
    const socket = this.socket;
    if (this.ending || socket.readyState !== socket.OPEN) return;
    const tcp = tcpOf(socket);
    if (tcp !== undefined && this.direct && senderIsIdle(socket)) {
      tcp.write(PING_FRAME);
      this.bufferedBound = boundGrownBy(this.bufferedBound, PING_FRAME.length);
    } else {
      socket.ping();
    }
    this.shared.pings.add(this.pingWait!);
    this.pongWait ??= new DelayEntry(this);
    // As sockjs: the first unanswered ping's timer runs on (a later ping does not restart it).
    if (!this.pongWait.queued) this.shared.pongs.add(this.pongWait);
  }

  /** @internal a pong arrived (see {@link onSocketPong}). */
  ponged(): void {
    if (this.pongWait !== undefined) this.shared.pongs.remove(this.pongWait);
  }

  /** @internal the last ping's pong did not come in time. */
  pongOverdue(): void {
    this.close(NO_HEARTBEAT_RESPONSE.code, NO_HEARTBEAT_RESPONSE.reason);
  }

  /** @internal the socket closed (see {@link onSocketClose}). */
  socketClosed(): void {
    this.ending = true;
    this.stopHeartbeats();
    this.shared.open.delete(this);
    this.shared.closed(this);
    this.finish();
  }

  /** Closes the WebSocket itself, no `c` frame first (what sockjs's receiver does on broken framing). */
  private closeWebSocket(close: SockJsClose): void {
    this.ending = true;
    this.stopHeartbeats();
    if (this.socket.readyState === this.socket.OPEN) this.socket.close(close.code, close.reason);
    this.finish();
  }

  /**
   * Writes one text frame of `payload` (through `frames`, which may wrap it as `a["…"]`): straight
   * to the TCP socket, corked for the tick, while that is byte for byte what ws would write
   * (WsTransport.send says when); otherwise ws frames and writes it.
   */
  private write(payload: Buffer, frames: FrameCache): void {
    const socket = this.socket;
    const tcp = tcpOf(socket);
    if (tcp !== undefined) corkForTick(tcp);
    if (tcp !== undefined && this.direct && senderIsIdle(socket)) {
      if (frames === this.shared.plain && payload.length > MAX_COPIED_PAYLOAD_BYTES) {
        tcp.write(frameHeader(payload.length, false));
        tcp.write(payload);
        this.bufferedBound = boundGrownBy(this.bufferedBound, payload.length + frameHeaderBytes(payload.length));
      } else {
        const frame = frames.frameOf(payload, false);
        tcp.write(frame);
        this.bufferedBound = boundGrownBy(this.bufferedBound, frame.length);
      }
      return;
    }
    const text = frames === this.shared.messages ? messageFrameOf(payload) : payload;
    socket.send(text, { binary: false });
    this.bufferedBound = boundGrownBy(this.bufferedBound, text.length + frameHeaderBytes(text.length));
  }

  private stopHeartbeats(): void {
    if (this.pingWait !== undefined) this.shared.pings.remove(this.pingWait);
    if (this.pongWait !== undefined) this.shared.pongs.remove(this.pongWait);
  }

  private finish(): void {
    if (this.reported) return;
    this.reported = true;
    this.events?.close();
  }
}

/** The `ws` socket class of {@link SockJsWebSockets}: a slot for its transport, set without changing the object's shape. */
class SockJsSocket extends WebSocket {
  /** @internal */
  sockjsTransport: SockJsWebSocketTransport | undefined = undefined;
}

/** A heart-beat read outside ws (ws-reads.ts): the socket's transport takes it as the message it is. */
function receiveHeartbeat(socket: WebSocket, message: Buffer): boolean {
  const transport = (socket as SockJsSocket).sockjsTransport;
  if (transport === undefined) return false;
  transport.received(message);
  return true;
}

/** Every socket's listeners: functions shared by all (ws calls them with the socket as `this`). */
function onSocketMessage(this: WebSocket, data: RawData): void {
  (this as SockJsSocket).sockjsTransport?.received(data);
}

function onSocketClose(this: WebSocket): void {
  (this as SockJsSocket).sockjsTransport?.socketClosed();
}

function onSocketPong(this: WebSocket): void {
  (this as SockJsSocket).sockjsTransport?.ponged();
}

/** `this` is ws's Receiver. */
function onReceiverError(this: object, err: { code?: string }): void {
  (socketOfReceiver(this) as SockJsSocket | undefined)?.sockjsTransport?.receiverFailed(err);
}

export interface SockJsWebSocketsOptions {
  /** URL prefix, e.g. `/sockjs`. */
  prefix: string;
  /** Largest WebSocket message accepted, in bytes (close 1009 above it, as faye-websocket closed it). */
  maxMessageBytes: number;
  /** Between heart-beat pings on the framed transport; sockjs's `heartbeat_delay`, 25 s. */
  heartbeatDelayMs?: number;
  /** How long a ping's pong may take before the session is closed; sockjs's 10 s. */
  pongTimeoutMs?: number;
  /** Told when a socket closed (once, after the session heard it). */
  closed(transport: SockJsWebSocketTransport): void;
  /** What a heart-beat callback threw (logged; the other sessions' heart-beats go on). */
  onError(err: unknown): void;
}

/** Serves SockJS's WebSocket transports on one `ws` server (no port of its own) for a SockJS endpoint. */
export class SockJsWebSockets {
  private readonly wss: WebSocketServer;
  private readonly shared: SockJsWebSocketShared;
  private readonly framedPath: RegExp;
  private readonly rawPath: RegExp;

  constructor(options: SockJsWebSocketsOptions) {
    this.wss = new WebSocketServer({
      noServer: true,
      WebSocket: SockJsSocket,
      clientTracking: false,
      maxPayload: options.maxMessageBytes,
      perMessageDeflate: false,
      // sockjs's faye-websocket was given no subprotocols: it never chooses one.
      handleProtocols: () => false,
    });
    this.shared = {
      messages: new FrameCache(messageFrameOf),
      plain: new FrameCache(),
      pings: new FixedDelayQueue(options.heartbeatDelayMs ?? SOCKJS_HEARTBEAT_DELAY_MS, (t) => t.heartbeatDue(), options.onError),
      pongs: new FixedDelayQueue(options.pongTimeoutMs ?? SOCKJS_PONG_TIMEOUT_MS, (t) => t.pongOverdue(), options.onError),
      open: new Set(),
      reads: new SharedSocketReads(receiveHeartbeat, SOCKJS_HEARTBEATS),
      closed: options.closed,
    };
    // sockjs's own routes (sockjs.js generate_dispatcher), matched on the path without query.
    const prefix = escapeRegExp(options.prefix);
    this.framedPath = new RegExp('^' + prefix + '/[^/.]+/[^/.]+/websocket[/]?$');
    this.rawPath = new RegExp('^' + prefix + '/websocket[/]?$');
  }

  /**
   * Which transport an upgrade request is for, when it is one the relay serves itself: a path
   * sockjs routes to one of its WebSocket transports, and a handshake both ws and sockjs's
   * faye-websocket accept (GET, `Upgrade: websocket`, version 13, a key and subprotocol header ws
   * can read). Undefined for everything else, which sockjs answers as it always did (its 400s for
   * other versions and bad upgrades, 404, 405).
   */
  kindOf(req: IncomingMessage): SockJsWebSocketKind | undefined {
    if (req.method !== 'GET') return undefined;
    const path = sockjsPathOf(req.url ?? '');
    const kind = this.framedPath.test(path) ? 'websocket' : this.rawPath.test(path) ? 'websocket-raw' : undefined;
    if (kind === undefined) return undefined;
    const headers = req.headers;
    if ((headers.upgrade ?? '').toLowerCase() !== 'websocket') return undefined;
    if (!(headers.connection ?? '').toLowerCase().split(/ *, */).includes('upgrade')) return undefined;
    if (headers['sec-websocket-version'] !== '13') return undefined;
    if (!WS_KEY.test(headers['sec-websocket-key'] ?? '')) return undefined;
    if (headers['sec-websocket-protocol'] !== undefined && !subprotocolsReadable(headers['sec-websocket-protocol'])) return undefined;
    return kind;
  }

  /**
   * Completes the handshake of a request {@link kindOf} took, then hands its transport to `opened`.
   * `sessionId` and `binding`: see {@link SockJsWebSocketTransport}.
   */
  upgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    kind: SockJsWebSocketKind,
    session: { sessionId: string; binding: SockJsBinding } | undefined,
    opened: (transport: SockJsWebSocketTransport) => void,
  ): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      // As sockjs's WebSocketReceiver does for the framed transport.
      if (kind === 'websocket') (socket as Socket).setKeepAlive?.(true, 5_000);
      const handshake: HandshakeInfo = {
        remoteAddress: req.socket.remoteAddress ?? '',
        url: req.url ?? '',
        // The raw endpoint has no session whose opening request sockjs kept: only sockjs's own few headers.
        headers: kind === 'websocket' ? req.headers : headersSockJsKeeps(req.headers),
        protocol: kind,
      };
      opened(new SockJsWebSocketTransport(ws as SockJsSocket, handshake, this.shared, session?.sessionId, session?.binding));
    });
  }

  /** Ends every open session (1001 "Going away", as SockJS carries it) and the server. */
  close(): void {
    for (const transport of [...this.shared.open]) transport.close(1001, 'Going away');
    this.wss.close();
  }
}

function headersSockJsKeeps(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const kept: Record<string, string | string[]> = {};
  for (const name of HEADERS_SOCKJS_KEEPS) {
    const value = headers[name];
    if (value) kept[name] = value;
  }
  return kept;
}

/**
 * Whether ws reads `Sec-WebSocket-Protocol` (it refuses the handshake otherwise): tokens separated
 * by commas, spaces or tabs around them, none twice. ws does not export its parser.
 */
function subprotocolsReadable(header: string): boolean {
  const seen = new Set<string>();
  for (const part of header.split(',')) {
    const name = part.replace(/^[ \t]+|[ \t]+$/g, '');
    if (!TOKEN.test(name) || seen.has(name)) return false;
    seen.add(name);
  }
  return true;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
