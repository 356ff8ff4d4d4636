/**
 * A lean STOMP-over-WebSocket client for load scripts: one `ws` socket and the project's own codec
 * (StompParser / encodeFrame), no reconnects, no per-message promises, client heart-beats only. Thousands of
 * them fit in one process; a MESSAGE costs one parse and one callback.
 *
 * Works against the relay (`/ws`) and RabbitMQ's Web-STOMP plugin alike: both speak plain STOMP 1.2
 * over WebSocket, so the same bytes go to each and the comparison is fair.
 */
import { WebSocket } from 'ws';
import { headers, type StompFrame, type StompHeaders } from '../../server/codec/frame';
import { StompParser } from '../../server/codec/parser';
import { encodeFrame } from '../../server/codec/serializer';

const SUBPROTOCOLS = ['v12.stomp', 'v11.stomp', 'v10.stomp'];
const EMPTY = Buffer.alloc(0);

export interface ConnectOptions {
  /** `ws://host:port/path` */
  url: string;
  /** CONNECT `login` (the relay's dev mode takes it as the user name). */
  login: string;
  passcode?: string;
  /** CONNECT `host` (RabbitMQ: the vhost). Default `/`. */
  host?: string;
  /** Gives up when CONNECTED has not arrived by then. Default 10 s. */
  timeoutMs?: number;
  /**
   * Client heart-beat interval offered in CONNECT (ms; 0 = none). Default 10 s, as stomp.js does.
   * Needed for fairness: RabbitMQ's Web-STOMP closes a socket that sent nothing for 60 s (cowboy's
   * idle_timeout), so silent subscribers would be dropped there and not on the relay.
   * Server heart-beats are not asked for unless {@link serverHeartbeatMs} says so.
   */
  heartbeatMs?: number;
  /** Server heart-beat interval asked for in CONNECT (ms; the second `heart-beat` value). Default 0 (none). */
  serverHeartbeatMs?: number;
  /**
   * Source address to connect from (e.g. `127.0.0.2`). Each loopback source address has its own
   * range of ephemeral ports, so load beyond ~28 000 sockets per target spreads over several.
   */
  localAddress?: string;
  /**
   * `url` is a SockJS WebSocket URL (`ws://host/sockjs/<server>/<session>/websocket`): frames travel
   * in SockJS's framing (`o`, `h`, `a[...]`, `c[...]`; JSON arrays of strings out), as sockjs-client
   * does over its websocket transport. Text only.
   */
  sockjs?: boolean;
}

/** How STOMP bytes travel in WebSocket messages: raw (binary), or in SockJS's JSON framing. */
interface Framing {
  encode(bytes: Buffer): string | Buffer;
  /** The STOMP chunks a received message carries ('open' / 'close' for SockJS's control frames). */
  decode(data: Buffer): Buffer[] | 'open' | 'close';
}

const RAW: Framing = { encode: (bytes) => bytes, decode: (data) => [data] };

const SOCKJS: Framing = {
  encode: (bytes) => JSON.stringify([bytes.toString('utf8')]),
  decode: (data) => {
    const text = data.toString('utf8');
    switch (text[0]) {
      case 'o': return 'open';
      case 'h': return [];
      case 'a': return (JSON.parse(text.slice(1)) as string[]).map((s) => Buffer.from(s, 'utf8'));
      case 'm': return [Buffer.from(JSON.parse(text.slice(1)) as string, 'utf8')];
      case 'c': return 'close';
      default: throw new Error(`unexpected SockJS frame ${text.slice(0, 40)}`);
    }
  },
};

/** A SockJS WebSocket URL on `httpOrWsBase` (e.g. `ws://127.0.0.1:8080/sockjs`), random server and session ids. */
export function sockJsWebSocketUrl(base: string): string {
  const server = String(Math.floor(Math.random() * 1000)).padStart(3, '0');
  const session = Math.random().toString(36).slice(2, 10);
  return `${base.replace(/^http/, 'ws')}/${server}/${session}/websocket`;
}

const EOL = Buffer.from('\n');

/** Called for every MESSAGE of one subscription, with the parsed frame. */
export type MessageListener = (frame: StompFrame) => void;

/** One STOMP session over one WebSocket. Create with {@link connectStomp}. */
export class StompWsClient {
  /** ERROR frames received (a healthy run has none). */
  readonly errors: StompFrame[] = [];
  /** True once the socket closed, for whatever reason. */
  closed = false;
  private readonly listeners = new Map<string, MessageListener>();
  /** Frames awaiting their RECEIPT; settled by the RECEIPT or, rejected, when the socket closes. */
  private readonly receipts = new Map<string, { resolve: () => void; reject: (err: Error) => void; command: string }>();
  private nextId = 0;
  private heartbeatTimer: NodeJS.Timeout | undefined;

  /** @internal use {@link connectStomp} */
  constructor(private readonly socket: WebSocket, private readonly framing: Framing = RAW) {}

  /** Bytes queued in the socket, not yet handed to the kernel (publisher flow control). */
  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }

  /** Subscribes and resolves once the server's RECEIPT says the subscription is in place. */
  subscribe(destination: string, onMessage: MessageListener, extra: Record<string, string> = {}): Promise<string> {
    const id = `sub-${this.nextId++}`;
    this.listeners.set(id, onMessage);
    return this.withReceipt({ command: 'SUBSCRIBE', headers: headers({ ...extra, id, destination, ack: 'auto' }), body: EMPTY }).then(() => id);
  }

  /** Fire-and-forget SEND (no receipt): what a browser publishing at full speed does. */
  send(destination: string, body: Buffer, extra?: Record<string, string>): void {
    this.write({ command: 'SEND', headers: headers({ ...extra, destination, 'content-length': body.length }), body });
  }

  /** SEND with a receipt: resolves when the server confirmed it. */
  sendConfirmed(destination: string, body: Buffer, extra?: Record<string, string>): Promise<void> {
    return this.withReceipt({ command: 'SEND', headers: headers({ ...extra, destination, 'content-length': body.length }), body });
  }

  /** DISCONNECT (with receipt, bounded), then closes the socket. Never rejects. */
  async close(timeoutMs = 2_000): Promise<void> {
    if (this.closed) return;
    const closedEvent = new Promise<void>((resolve) => this.socket.once('close', () => resolve()));
    try {
      await withTimeout(this.withReceipt({ command: 'DISCONNECT', headers: headers(), body: EMPTY }), timeoutMs, 'DISCONNECT receipt');
    } catch {
      // a server that does not answer still gets its socket closed below
    }
    this.socket.close();
    const timer = setTimeout(() => this.socket.terminate(), timeoutMs);
    await closedEvent;
    clearTimeout(timer);
  }

  /** Drops the socket without DISCONNECT (cleanup after errors). */
  terminate(): void {
    this.socket.terminate();
  }

  /** @internal the parser's frame callback */
  onFrame(frame: StompFrame): void {
    switch (frame.command) {
      case 'MESSAGE': {
        const listener = this.listeners.get(frame.headers.subscription ?? '');
        if (listener) listener(frame);
        return;
      }
      case 'RECEIPT': {
        const id = frame.headers['receipt-id'] ?? '';
        const pending = this.receipts.get(id);
        this.receipts.delete(id);
        pending?.resolve();
        return;
      }
      case 'ERROR':
        this.errors.push(frame);
        return;
    }
  }

  /** @internal the socket closed: pending receipts will never come. */
  onClose(): void {
    this.closed = true;
    for (const pending of this.receipts.values()) pending.reject(new Error(`socket closed before RECEIPT for ${pending.command}${this.lastError()}`));
    this.receipts.clear();
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
  }

  /** @internal CONNECTED arrived: send heart-beats as negotiated (STOMP 1.2 §Heart-beating: max(cx, sy)). */
  startHeartbeats(offeredMs: number, connected: StompFrame): void {
    const wanted = Number((connected.headers['heart-beat'] ?? '0,0').split(',')[1] ?? 0);
    if (offeredMs <= 0 || !(wanted > 0)) return;
    this.heartbeatTimer = setInterval(() => {
      if (this.socket.readyState === WebSocket.OPEN) this.socket.send(this.framing.encode(EOL), { binary: this.framing === RAW });
    }, Math.max(offeredMs, wanted));
    this.heartbeatTimer.unref();
  }

  private withReceipt(frame: StompFrame): Promise<void> {
    const receipt = `r-${this.nextId++}`;
    frame.headers.receipt = receipt;
    return new Promise<void>((resolve, reject) => {
      if (this.closed) return reject(new Error(`socket closed before ${frame.command}${this.lastError()}`));
      this.receipts.set(receipt, { resolve, reject, command: frame.command });
      this.write(frame);
    });
  }

  private write(frame: StompFrame): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(this.framing.encode(encodeFrame(frame, '1.2')), { binary: this.framing === RAW });
  }

  private lastError(): string {
    const e = this.errors[this.errors.length - 1];
    return e ? `: ERROR ${e.headers.message ?? ''} ${e.body.toString('utf8', 0, 200)}` : '';
  }
}

/** Opens a WebSocket, sends CONNECT and resolves on CONNECTED (then heart-beats as negotiated). */
export function connectStomp(options: ConnectOptions): Promise<StompWsClient> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const heartbeatMs = options.heartbeatMs ?? 10_000;
  const framing = options.sockjs ? SOCKJS : RAW;
  const socket = new WebSocket(options.url, options.sockjs ? [] : SUBPROTOCOLS, { perMessageDeflate: false, handshakeTimeout: timeoutMs, localAddress: options.localAddress });
  const client = new StompWsClient(socket, framing);
  return new Promise<StompWsClient>((resolve, reject) => {
    let connected = false;
    const timer = setTimeout(() => fail(new Error(`no CONNECTED from ${options.url} within ${timeoutMs} ms`)), timeoutMs);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      socket.terminate();
      reject(err);
    };
    const parser = new StompParser({
      onFrame: (frame: StompFrame) => {
        if (connected) return client.onFrame(frame);
        if (frame.command === 'CONNECTED') {
          connected = true;
          clearTimeout(timer);
          client.startHeartbeats(heartbeatMs, frame);
          resolve(client);
        } else {
          fail(new Error(`CONNECT to ${options.url} answered ${frame.command}: ${frame.headers.message ?? ''} ${frame.body.toString('utf8', 0, 200)}`));
        }
      },
    });
    const sendConnect = (): void => {
      const h: StompHeaders = headers({
        'accept-version': '1.2,1.1,1.0',
        host: options.host ?? '/',
        login: options.login,
        passcode: options.passcode,
        'heart-beat': `${heartbeatMs},${options.serverHeartbeatMs ?? 0}`,
      });
      socket.send(framing.encode(encodeFrame({ command: 'CONNECT', headers: h, body: EMPTY }, '1.2')), { binary: framing === RAW });
    };
    socket.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
      try {
        const chunks = framing.decode(Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data));
        if (chunks === 'open') sendConnect();
        else if (chunks === 'close') socket.close();
        else for (const chunk of chunks) parser.push(chunk);
      } catch (err) {
        client.errors.push({ command: 'ERROR', headers: headers({ message: `client parse error: ${(err as Error).message}` }), body: EMPTY });
        socket.terminate();
      }
    });
    socket.on('error', (err) => { if (!connected) fail(err); });
    socket.on('close', () => {
      client.onClose();
      if (!connected) fail(new Error(`socket to ${options.url} closed before CONNECTED`));
    });
    // SockJS: CONNECT once the server's open frame arrived.
    socket.on('open', () => { if (!options.sockjs) sendConnect(); });
  });
}

/**
 * Opens `count` clients with `open`, at most `concurrency` handshakes at a time (a burst of
 * thousands of simultaneous handshakes measures the accept queue, not the server). If one fails, the
 * ones already open are terminated and the error is thrown.
 */
export async function openMany<T extends { terminate(): void }>(count: number, open: (i: number) => Promise<T>, concurrency = 50): Promise<T[]> {
  const clients: T[] = new Array(count);
  let next = 0;
  let failure: unknown;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < count) {
      const i = next++;
      try {
        clients[i] = await open(i);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  if (failure !== undefined) {
    for (const c of clients) c?.terminate();
    throw failure;
  }
  return clients;
}

/** {@link openMany} of STOMP clients. */
export function connectMany(count: number, options: (index: number) => ConnectOptions, concurrency = 50): Promise<StompWsClient[]> {
  return openMany(count, (i) => connectStomp(options(i)), concurrency);
}

/** Resolves or rejects like `promise`, or rejects after `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
