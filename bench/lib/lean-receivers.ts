/**
 * Fan-out receivers that cost as little as a receiver can, the same for every server path, so that
 * bench/fanout.ts measures the servers and not its own clients (`--clients lean`, the default). Each
 * counts WebSocket messages and reads only what the latency stamp needs:
 *
 * - STOMP (relay, Web-STOMP) and the bare `ws` floor: {@link scanStompFrames} finds each frame's
 *   command and body with `Buffer.indexOf` (native) and hands the body's offset on; no header is
 *   parsed and nothing is copied for a MESSAGE. CONNECT, SUBSCRIBE with a receipt and heart-beats
 *   are sent as a STOMP client does.
 * - Socket.IO: a raw Engine.IO v4 client over `ws` ({@link openLeanSocketIoReceiver}): the open
 *   packet `0{…}` is answered by `40` (connect to the main namespace), ping `2` by pong `3`,
 *   `420["subscribe",topic]` is acknowledged by `430[]`, and each `42["message","<body>"]` is one
 *   message, whose body starts after the fixed prefix.
 *
 * The library clients (bench/lib/fanout-clients.ts: the STOMP parser of the relay, socket.io-client)
 * remain the `--clients library` view: what an application's own client would spend.
 *
 * What a lean receiver cannot see, it reports as an error rather than skipping: a STOMP frame cut
 * across WebSocket messages (the servers here write one frame per message). The bench's bodies carry
 * no NUL byte (bench/lib/stats.ts stampBody), so a body ends at the first NUL.
 */
import { WebSocket } from 'ws';
import { headers } from '../../server/codec/frame';
import { encodeFrame } from '../../server/codec/serializer';
import { withTimeout } from './stomp-ws-client';

/** Called for each message with the WebSocket message and where the body starts in it. */
export type StampedListener = (data: Buffer | string, bodyFrom: number) => void;

/** One receiver of a fan-out run, whatever the wire protocol (lean or library client). */
export interface FanoutReceiver {
  /** Subscribes to `topic`; resolves once the server confirmed it (receipt / ack). */
  subscribe(topic: string, onMessage: StampedListener): Promise<void>;
  readonly closed: boolean;
  /** ERROR frames and unreadable messages; a healthy run has none. */
  readonly errors: number;
  close(): Promise<void>;
  terminate(): void;
}

const LF = 0x0a;
const CR = 0x0d;
const HEADERS_END = Buffer.from('\n\n');

/** What {@link scanStompFrames} hands on. */
export interface StompFrameHandler {
  /** A MESSAGE frame whose body starts at `bodyFrom` of `data`. */
  message(data: Buffer, bodyFrom: number): void;
  /** Any other frame: its command and its header lines (setup and error path: may allocate). */
  other(command: string, headerLines: string): void;
}

/**
 * Walks the STOMP frames of one WebSocket message (heart-beat EOLs skipped). Throws on a frame
 * without its header end or its NUL, which a lean receiver counts as an error.
 */
export function scanStompFrames(data: Buffer, handler: StompFrameHandler): void {
  const n = data.length;
  let at = 0;
  while (at < n) {
    const c = data[at]!;
    if (c === LF || c === CR) {
      at++;
      continue;
    }
    const headersEnd = data.indexOf(HEADERS_END, at);
    if (headersEnd < 0) throw new Error('STOMP frame without the end of its headers in one WebSocket message');
    const bodyFrom = headersEnd + 2;
    const end = data.indexOf(0, bodyFrom);
    if (end < 0) throw new Error('STOMP frame without its NUL in one WebSocket message');
    // "MESSAGE\n": the only command starting with "ME" and 7 letters long.
    if (c === 0x4d && data[at + 1] === 0x45 && data[at + 7] === LF) {
      handler.message(data, bodyFrom);
    } else {
      const text = data.toString('latin1', at, headersEnd);
      const eol = text.indexOf('\n');
      handler.other(eol < 0 ? text : text.slice(0, eol), eol < 0 ? '' : text.slice(eol + 1));
    }
    at = end + 1;
  }
}

/** The value of header `name` in STOMP header lines (first occurrence wins, as STOMP 1.2 says). */
export function headerValue(headerLines: string, name: string): string | undefined {
  for (const line of headerLines.split('\n')) {
    if (line.startsWith(`${name}:`)) return line.slice(name.length + 1);
  }
  return undefined;
}

export interface LeanStompOptions {
  /** `ws://host:port/path` */
  url: string;
  login: string;
  passcode?: string;
  /** Client heart-beat offered in CONNECT, ms (Web-STOMP closes a socket silent for 60 s). Default 10 s. */
  heartbeatMs?: number;
  timeoutMs?: number;
}

const SUBPROTOCOLS = ['v12.stomp', 'v11.stomp', 'v10.stomp'];
const EMPTY = Buffer.alloc(0);
const EOL = Buffer.from('\n');

/** Base of the lean receivers: one `ws` socket, its close and error bookkeeping. */
abstract class LeanReceiver implements FanoutReceiver {
  closed = false;
  errors = 0;
  protected listener: StampedListener | undefined;

  constructor(protected readonly socket: WebSocket) {
    socket.on('close', () => { this.closed = true; this.onClose(); });
    socket.on('error', () => undefined);
  }

  abstract subscribe(topic: string, onMessage: StampedListener): Promise<void>;

  async close(): Promise<void> {
    if (this.closed) return;
    const gone = new Promise<void>((resolve) => this.socket.once('close', () => resolve()));
    this.socket.close();
    const timer = setTimeout(() => this.socket.terminate(), 1_000);
    await gone;
    clearTimeout(timer);
  }

  terminate(): void {
    this.socket.terminate();
  }

  protected onClose(): void {}
}

/** Resolves when `socket` is open; rejects (and drops it) on its error, its close or after `timeoutMs`. */
function opened(socket: WebSocket, timeoutMs: number, what: string): Promise<void> {
  return withTimeout(new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`${what}: closed before open`)));
  }), timeoutMs, what).catch((err: Error) => {
    socket.terminate();
    throw err;
  });
}

/** A receiver of STOMP frames (relay, Web-STOMP, the floor): scans each WebSocket message, hands MESSAGE bodies on. */
abstract class StompScanningReceiver extends LeanReceiver implements StompFrameHandler {
  constructor(socket: WebSocket) {
    super(socket);
    socket.on('message', (data: Buffer) => {
      try {
        scanStompFrames(data, this);
      } catch {
        this.errors++;
      }
    });
  }

  /** @internal frame handler */
  message(data: Buffer, bodyFrom: number): void {
    this.listener?.(data, bodyFrom);
  }

  /** @internal frame handler: every other command. */
  abstract other(command: string, headerLines: string): void;
}

/** A lean STOMP receiver (relay, Web-STOMP). */
class LeanStompReceiver extends StompScanningReceiver {
  private readonly receipts = new Map<string, () => void>();
  private connected: ((headerLines: string) => void) | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private nextId = 0;

  /** @internal frame handler */
  other(command: string, headerLines: string): void {
    if (command === 'CONNECTED') this.connected?.(headerLines);
    else if (command === 'RECEIPT') {
      const id = headerValue(headerLines, 'receipt-id') ?? '';
      this.receipts.get(id)?.();
      this.receipts.delete(id);
    } else if (command === 'ERROR') this.errors++;
  }

  /** CONNECT, and resolves on CONNECTED (then heart-beats as negotiated, STOMP 1.2: max(cx, sy)). */
  async connect(options: LeanStompOptions, timeoutMs: number): Promise<void> {
    const heartbeatMs = options.heartbeatMs ?? 10_000;
    const answered = new Promise<string>((resolve, reject) => {
      this.connected = resolve;
      this.socket.once('close', () => reject(new Error(`${options.url}: closed before CONNECTED (errors: ${this.errors})`)));
    });
    this.write('CONNECT', { 'accept-version': '1.2,1.1,1.0', host: '/', login: options.login, passcode: options.passcode, 'heart-beat': `${heartbeatMs},0` });
    const connectedHeaders = await withTimeout(answered, timeoutMs, `CONNECTED from ${options.url}`);
    this.connected = undefined;
    const wanted = Number((headerValue(connectedHeaders, 'heart-beat') ?? '0,0').split(',')[1] ?? 0);
    if (heartbeatMs > 0 && wanted > 0) {
      this.heartbeat = setInterval(() => { if (this.socket.readyState === WebSocket.OPEN) this.socket.send(EOL, { binary: true }); }, Math.max(heartbeatMs, wanted));
      this.heartbeat.unref();
    }
  }

  subscribe(topic: string, onMessage: StampedListener): Promise<void> {
    this.listener = onMessage;
    const receipt = `r-${this.nextId++}`;
    const confirmed = new Promise<void>((resolve) => this.receipts.set(receipt, resolve));
    this.write('SUBSCRIBE', { id: 'sub-0', destination: topic, ack: 'auto', receipt });
    return withTimeout(confirmed, 10_000, `RECEIPT for SUBSCRIBE ${topic}`);
  }

  protected override onClose(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
  }

  private write(command: string, h: Record<string, string | undefined>): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(encodeFrame({ command, headers: headers(h), body: EMPTY }, '1.2'), { binary: true });
  }
}

/** Opens a lean STOMP receiver: WebSocket, CONNECT, CONNECTED. */
export async function openLeanStompReceiver(options: LeanStompOptions): Promise<FanoutReceiver> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const socket = new WebSocket(options.url, SUBPROTOCOLS, { perMessageDeflate: false, handshakeTimeout: timeoutMs });
  const receiver = new LeanStompReceiver(socket);
  await opened(socket, timeoutMs, `WebSocket to ${options.url}`);
  try {
    await receiver.connect(options, timeoutMs);
  } catch (err) {
    socket.terminate();
    throw err;
  }
  return receiver;
}

/** A lean receiver of the bare `ws` floor (bench/peers/ws-floor/server.ts `/sub`: no protocol, STOMP MESSAGE bytes). */
class LeanFloorReceiver extends StompScanningReceiver {
  /** @internal frame handler: the floor sends nothing else. */
  other(): void {
    this.errors++;
  }

  /** The floor has no subscriptions: every `/sub` socket gets everything. */
  async subscribe(_topic: string, onMessage: StampedListener): Promise<void> {
    this.listener = onMessage;
  }
}

/** Opens a lean receiver on the floor server at `baseUrl` (`ws://host:port`). */
export async function openLeanFloorReceiver(baseUrl: string, timeoutMs = 10_000): Promise<FanoutReceiver> {
  const socket = new WebSocket(`${baseUrl}/sub`, { perMessageDeflate: false, handshakeTimeout: timeoutMs });
  const receiver = new LeanFloorReceiver(socket);
  await opened(socket, timeoutMs, `WebSocket to ${baseUrl}/sub`);
  return receiver;
}

/** Engine.IO v4 packet types (first character) and Socket.IO packet types (second, after `4`). */
const EIO_OPEN = 0x30; // '0'
const EIO_PING = 0x32; // '2'
const EIO_MESSAGE = 0x34; // '4'
const SIO_CONNECT = 0x30; // '40'
const SIO_EVENT = 0x32; // '42'
const SIO_ACK = 0x33; // '43'
const SIO_CONNECT_ERROR = 0x34; // '44'
/** `42["message",` : the body, a JSON string, starts right after (readStamp skips its quote). */
const MESSAGE_EVENT_PREFIX = '42["message",';

/** What a Socket.IO text packet is, for {@link LeanSocketIoReceiver}. */
export type SocketIoPacketKind = 'open' | 'ping' | 'connect' | 'connect-error' | 'ack' | 'message' | 'other';

/** Classifies an Engine.IO v4 / Socket.IO v5 text packet by its first bytes (no parse). */
export function socketIoPacketKind(data: Buffer): SocketIoPacketKind {
  const eio = data[0];
  if (eio === EIO_MESSAGE) {
    const sio = data[1];
    if (sio === SIO_EVENT) return isMessageEvent(data) ? 'message' : 'other';
    if (sio === SIO_ACK) return 'ack';
    if (sio === SIO_CONNECT) return 'connect';
    if (sio === SIO_CONNECT_ERROR) return 'connect-error';
    return 'other';
  }
  if (eio === EIO_PING) return 'ping';
  if (eio === EIO_OPEN) return 'open';
  return 'other';
}

const MESSAGE_EVENT_PREFIX_BYTES = Buffer.from(MESSAGE_EVENT_PREFIX, 'latin1');

/** True when `data` starts with `42["message",` (a byte loop: 13 bytes, no native call, no copy). */
function isMessageEvent(data: Buffer): boolean {
  if (data.length <= MESSAGE_EVENT_PREFIX_BYTES.length) return false;
  for (let i = 2; i < MESSAGE_EVENT_PREFIX_BYTES.length; i++) if (data[i] !== MESSAGE_EVENT_PREFIX_BYTES[i]) return false;
  return true;
}

/** Where the body starts in a `message` event packet. */
export const SOCKET_IO_MESSAGE_BODY_FROM = MESSAGE_EVENT_PREFIX.length;

/** A raw Engine.IO v4 / Socket.IO v5 client over `ws`, WebSocket transport only, main namespace. */
class LeanSocketIoReceiver extends LeanReceiver {
  private connected: (() => void) | undefined;
  private acked: (() => void) | undefined;

  constructor(socket: WebSocket) {
    super(socket);
    socket.on('message', (data: Buffer) => {
      switch (socketIoPacketKind(data)) {
        case 'message': this.listener?.(data, SOCKET_IO_MESSAGE_BODY_FROM); return;
        case 'ping': socket.send('3'); return;
        case 'open': socket.send('40'); return;
        case 'connect': this.connected?.(); return;
        case 'ack': this.acked?.(); return;
        case 'connect-error': this.errors++; socket.terminate(); return;
        default: return;
      }
    });
  }

  /** Resolves on the namespace's CONNECT (`40{"sid":…}`). */
  whenConnected(timeoutMs: number): Promise<void> {
    return withTimeout(new Promise<void>((resolve, reject) => {
      this.connected = resolve;
      this.socket.once('close', () => reject(new Error('Socket.IO socket closed before CONNECT')));
    }), timeoutMs, 'Socket.IO CONNECT');
  }

  subscribe(topic: string, onMessage: StampedListener): Promise<void> {
    this.listener = onMessage;
    const acked = new Promise<void>((resolve) => { this.acked = resolve; });
    this.socket.send(`420${JSON.stringify(['subscribe', topic])}`);
    return withTimeout(acked, 10_000, `Socket.IO subscribe ${topic} ack`);
  }
}

/** Opens a lean Socket.IO receiver on `baseUrl` (`http://host:port`) and connects the main namespace. */
export async function openLeanSocketIoReceiver(baseUrl: string, timeoutMs = 10_000): Promise<FanoutReceiver> {
  const url = `${baseUrl.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`;
  const socket = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: timeoutMs });
  const receiver = new LeanSocketIoReceiver(socket);
  // Listen for CONNECT before the open packet can arrive.
  const connected = receiver.whenConnected(timeoutMs);
  connected.catch(() => undefined);
  await opened(socket, timeoutMs, `WebSocket to ${url}`);
  try {
    await connected;
  } catch (err) {
    socket.terminate();
    throw err;
  }
  return receiver;
}
