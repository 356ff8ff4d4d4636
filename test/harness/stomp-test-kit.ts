/**
 * Shared harness for the server integration tests: a real relay on an ephemeral port, real clients
 * (stompjs over `ws` and over sockjs-client, and a raw `ws` STOMP peer for malformed input), and
 * bounded waits. Nothing here fakes the server: every helper talks to it over sockets.
 *
 * The raw peer parses what the server sends with its own small parser (not the relay's codec), so a
 * codec bug cannot hide itself from these tests.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import express from 'express';
import SockJS from 'sockjs-client';
import { Client, type IFrame, type IMessage, type StompHeaders, type StompSubscription } from '@stomp/stompjs';
import { createRelay, type CreateRelayOptions, type Relay } from '../../server/relay';
import { silentLogger } from '../../server/observability/logger';

/** Default bound for one awaited event; generous for a shared 2-core box, small next to mocha's 20 s. */
export const WAIT_MS = 5_000;

// --- waiting ---------------------------------------------------------------------------------------

/** Resolves with `promise`, or rejects naming `what` after `ms`. */
export function within<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    // A bound, not work: it must not keep the process alive once the tests ended (a wait nobody
    // answers any more, like a responder's next request); mocha's own timeout holds it meanwhile.
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Polls `condition` every 10 ms until it holds, or rejects after `ms` naming `what`. A condition
 * that throws counts as "not yet" (a server still starting refuses connections); the last error is
 * named in the timeout.
 */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, ms = WAIT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  let lastError: unknown;
  for (;;) {
    try {
      if (await condition()) return;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const cause = lastError === undefined ? '' : ` (last error: ${lastError instanceof Error ? lastError.message : String(lastError)})`;
      throw new Error(`timed out after ${ms} ms waiting for ${what}${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A FIFO of things that arrive asynchronously, read with a bounded wait. */
export class Inbox<T> {
  private readonly items: T[] = [];
  private readonly waiters: Array<(item: T) => void> = [];
  /** Everything ever pushed, in order (reading with {@link next} does not remove from here). */
  readonly all: T[] = [];

  push(item: T): void {
    this.all.push(item);
    const waiter = this.waiters.shift();
    if (waiter) waiter(item);
    else this.items.push(item);
  }

  /** Items pushed but not yet taken by {@link next}. */
  get pending(): number {
    return this.items.length;
  }

  next(what = 'the next item', ms = WAIT_MS): Promise<T> {
    if (this.items.length > 0) return Promise.resolve(this.items.shift() as T);
    let waiter!: (item: T) => void;
    const p = new Promise<T>((resolve) => { waiter = resolve; this.waiters.push(waiter); });
    return within(p, what, ms).catch((err) => {
      const i = this.waiters.indexOf(waiter);
      if (i >= 0) this.waiters.splice(i, 1);
      throw err;
    });
  }

  /** Takes `n` items in order. */
  async take(n: number, what = `${n} items`, ms = WAIT_MS): Promise<T[]> {
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(await this.next(`${what} (got ${i})`, ms));
    return out;
  }
}

/** A fresh name, so tests never share destinations or users by accident. */
export function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

// --- the server ------------------------------------------------------------------------------------

export interface TestRelay {
  relay: Relay;
  port: number;
  /** `http://127.0.0.1:port` */
  http: string;
  /** `ws://127.0.0.1:port/ws` */
  wsUrl: string;
  /** `http://127.0.0.1:port/sockjs` */
  sockjsUrl: string;
  /** `ws://127.0.0.1:port/sockjs/websocket`: SockJS's raw, unframed WebSocket endpoint. */
  sockjsRawWsUrl: string;
  /** `http://127.0.0.1:adminPort` when started with `adminPort` (0 = any free port); else undefined. */
  admin: string | undefined;
  close(): Promise<void>;
}

/**
 * Starts a relay (embedded broker, silent logs) on 127.0.0.1 and an ephemeral port. Options are
 * merged over test defaults: a short shutdown grace so `close()` is quick.
 */
export async function startRelay(options: CreateRelayOptions = {}): Promise<TestRelay> {
  const relay = createRelay({
    logger: silentLogger(),
    instanceId: 'test-a',
    shutdownGraceMs: 1_000,
    ...options,
  });
  const { port } = (await relay.listen(0, '127.0.0.1')) as AddressInfo;
  const http = `http://127.0.0.1:${port}`;
  const adminAddress = relay.adminServer?.address() as AddressInfo | undefined;
  return {
    relay,
    port,
    http,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    sockjsUrl: `${http}/sockjs`,
    sockjsRawWsUrl: `ws://127.0.0.1:${port}/sockjs/websocket`,
    admin: adminAddress ? `http://127.0.0.1:${adminAddress.port}` : undefined,
    close: () => relay.close(),
  };
}

/**
 * Like {@link startRelay}, but the relay is embedded in a host express application the way the
 * README shows (`app.use(relay.router)`, `relay.attach(server)`, `relay.start()`), next to a host
 * route `GET /host` answering `host`. `setup` runs before the relay starts (register handlers there).
 */
export async function startEmbeddedRelay(options: CreateRelayOptions = {}, setup?: (relay: Relay) => void): Promise<TestRelay> {
  const relay = createRelay({
    logger: silentLogger(),
    instanceId: 'test-embedded',
    shutdownGraceMs: 1_000,
    serveDemo: false,
    ...options,
  });
  setup?.(relay);
  const app = express();
  app.get('/host', (_req, res) => { res.send('host'); });
  app.use(relay.router);
  const server = http.createServer(app);
  relay.attach(server);
  await relay.start();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;
  return {
    relay,
    port,
    http: base,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    sockjsRawWsUrl: `ws://127.0.0.1:${port}/sockjs/websocket`,
    sockjsUrl: `${base}/sockjs`,
    admin: undefined,
    close: async () => {
      await relay.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// --- stompjs clients -------------------------------------------------------------------------------

export const STOMP_SUBPROTOCOLS = ['v12.stomp', 'v11.stomp', 'v10.stomp'];

export type SockJsTransportName = 'websocket' | 'xhr-streaming' | 'xhr-polling';

export interface StompClientOptions {
  /** Dev mode user name (CONNECT `login`). */
  login?: string;
  connectHeaders?: StompHeaders;
  /** Client heart-beats in ms (stompjs defaults are 10000/10000). */
  heartbeatIncoming?: number;
  heartbeatOutgoing?: number;
}

/** A stompjs client plus what the tests observe of it. */
export interface TestClient {
  client: Client;
  /** CONNECTED, when the connection succeeded. */
  connected: IFrame;
  /** ERROR frames received, in order. */
  errors: Inbox<IFrame>;
  /** Resolves when the underlying socket closed. */
  closed: Promise<void>;
  /**
   * Subscribes, waiting for the server's RECEIPT so later publishes are sure to be seen; `ms` bounds
   * the wait (default 5 s: longer for subscriptions RabbitMQ needs several round trips for).
   */
  subscribe(destination: string, headers?: StompHeaders, ms?: number): Promise<TestSubscription>;
  /** Publishes with a receipt and waits for it (the broker took the message). */
  publish(destination: string, body: string | Uint8Array, headers?: StompHeaders): Promise<void>;
  /** DISCONNECT (with receipt) and socket close. */
  close(): Promise<void>;
}

export interface TestSubscription {
  messages: Inbox<IMessage>;
  subscription: StompSubscription;
}

type SocketFactory = () => WebSocket | WebSocketLike;
/** What stompjs needs of a socket; sockjs-client's SockJS satisfies it. */
type WebSocketLike = InstanceType<typeof SockJS>;

/** Outcome of a connection attempt: CONNECTED, or ERROR (auth failure...) before it. */
export type ConnectOutcome = { ok: true; client: TestClient } | { ok: false; error: IFrame; closed: Promise<void> };

/** Opens a stompjs session with the given socket factory; resolves on CONNECTED or on an ERROR first. */
export function tryConnect(factory: SocketFactory, options: StompClientOptions = {}): Promise<ConnectOutcome> {
  const errors = new Inbox<IFrame>();
  let markClosed!: () => void;
  const closed = new Promise<void>((resolve) => { markClosed = resolve; });
  const client = new Client({
    webSocketFactory: factory as () => WebSocket,
    reconnectDelay: 0, // a test client must never reconnect behind the test's back
    connectHeaders: { ...(options.login !== undefined ? { login: options.login } : {}), ...options.connectHeaders },
    heartbeatIncoming: options.heartbeatIncoming ?? 0,
    heartbeatOutgoing: options.heartbeatOutgoing ?? 0,
    debug: () => undefined,
  });
  let settle: ((outcome: ConnectOutcome) => void) | null = null;
  client.onStompError = (frame) => {
    if (settle) settle({ ok: false, error: frame, closed });
    else errors.push(frame);
    settle = null;
  };
  client.onWebSocketClose = () => markClosed();
  const outcome = new Promise<ConnectOutcome>((resolve, reject) => {
    settle = resolve;
    client.onConnect = (connected) => {
      settle = null;
      resolve({ ok: true, client: wrap(client, connected, errors, closed) });
    };
    closed.then(() => reject(new Error('socket closed before CONNECTED or ERROR')));
  });
  client.activate();
  return within(outcome, 'the STOMP connection', WAIT_MS + 500).catch(async (err) => {
    await client.deactivate({ force: true });
    throw err;
  });
}

/** Like {@link tryConnect}, but requires CONNECTED. */
export async function connect(factory: SocketFactory, options: StompClientOptions = {}): Promise<TestClient> {
  const outcome = await tryConnect(factory, options);
  if (!outcome.ok) throw new Error(`expected CONNECTED, got ERROR ${outcome.error.headers.code}: ${outcome.error.headers.message}`);
  return outcome.client;
}

export function wsFactory(url: string, wsOptions: WebSocket.ClientOptions = {}): () => WebSocket {
  return () => new WebSocket(url, STOMP_SUBPROTOCOLS, wsOptions);
}

export function sockjsFactory(url: string, transport: SockJsTransportName): () => WebSocketLike {
  return () => new SockJS(url, null, { transports: [transport] });
}

/** stompjs over a plain WebSocket to `/ws`. */
export function wsClient(server: TestRelay, options: StompClientOptions = {}): Promise<TestClient> {
  return connect(wsFactory(server.wsUrl), options);
}

/** stompjs over sockjs-client to `/sockjs`, forced onto one transport. */
export function sockjsClient(server: TestRelay, transport: SockJsTransportName, options: StompClientOptions = {}): Promise<TestClient> {
  return connect(sockjsFactory(server.sockjsUrl, transport), options);
}

function wrap(client: Client, connected: IFrame, errors: Inbox<IFrame>, closed: Promise<void>): TestClient {
  const receipt = async (send: (receiptId: string) => void, what: string, ms = WAIT_MS) => {
    const id = unique('r');
    const got = new Promise<void>((resolve) => client.watchForReceipt(id, () => resolve()));
    send(id);
    await within(got, what, ms);
  };
  return {
    client,
    connected,
    errors,
    closed,
    async subscribe(destination, headers = {}, ms = WAIT_MS) {
      const messages = new Inbox<IMessage>();
      let subscription!: StompSubscription;
      await receipt((id) => {
        subscription = client.subscribe(destination, (m) => messages.push(m), { ...headers, receipt: id });
      }, `RECEIPT for SUBSCRIBE ${destination}`, ms);
      return { messages, subscription };
    },
    async publish(destination, body, headers = {}) {
      await receipt((id) => {
        const h = { ...headers, receipt: id };
        if (typeof body === 'string') client.publish({ destination, body, headers: h });
        else client.publish({ destination, binaryBody: body, headers: h });
      }, `RECEIPT for SEND ${destination}`);
    },
    async close() {
      if (client.connected) await within(client.deactivate(), 'stompjs deactivate');
      else await client.deactivate({ force: true });
    },
  };
}

/**
 * Call inside `describe`: returns `track`, and every client passed to it is closed after each test
 * (ignoring those already gone).
 */
export function trackClients(): <T extends { close(): Promise<void> }>(client: T) => T {
  const open: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => { await closeAll(open.splice(0)); });
  return (client) => { open.push(client); return client; };
}

/** Closes every client given, ignoring those already gone. */
export async function closeAll(clients: Array<{ close(): Promise<void> } | undefined>): Promise<void> {
  await Promise.all(clients.map((c) => c?.close().catch(() => undefined)));
}

// --- raw STOMP over ws -----------------------------------------------------------------------------

/** A frame the server sent, as the raw peer parsed it. */
export interface RawFrame {
  command: string;
  headers: Record<string, string>;
  body: Buffer;
  /** Whether the WebSocket message that completed this frame was binary. */
  binary: boolean;
}

export interface RawOptions {
  /** Subprotocols to offer (default all three STOMP ones). */
  protocols?: string[];
  /** Extra handshake headers (Origin...). */
  headers?: Record<string, string>;
}

/** What a raw peer drives: a `ws` socket (to any WebSocket path), or sockjs-client on one transport. */
export type RawSocket = WebSocket | WebSocketLike;

/**
 * A STOMP peer over a bare socket: sends whatever bytes a test wants (malformed included), and
 * parses what comes back with its own parser. Heart-beat EOLs are recorded with their arrival times.
 * Over `ws` ({@link RawStomp.open}) it speaks to `/ws` or SockJS's raw `/sockjs/websocket`; over
 * sockjs-client ({@link RawStomp.openSockJs}) to one of SockJS's framed transports, which carry text only.
 */
export class RawStomp {
  readonly frames = new Inbox<RawFrame>();
  /** Arrival times (ms, monotonic) of heart-beat EOLs from the server. */
  readonly heartbeats: number[] = [];
  /**
   * Resolves with the close code once the socket closed. `code` is what the client library reported,
   * as is: sockjs-client passes on whatever the server's close frame carried (a string, if it sent one).
   */
  readonly closed: Promise<{ code: number; reason: string }>;
  /** False for sockjs-client: it sends text only. */
  readonly canSendBinary: boolean;
  private buffer: Buffer = Buffer.alloc(0);
  /**
   * How the server escapes what it sends, as far as this client knows: nothing before a CONNECT
   * (sent with {@link sendFrame}) offered versions, then the highest offered, then CONNECTED's.
   */
  private escaping: '1.0' | '1.1' | '1.2' = '1.0';

  private constructor(readonly socket: RawSocket) {
    if (socket instanceof WebSocket) {
      this.canSendBinary = true;
      this.closed = new Promise((resolve) => {
        socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
      });
      socket.on('error', () => undefined);
      socket.on('message', (data: WebSocket.RawData, isBinary: boolean) => this.onData(toBuffer(data), isBinary));
    } else {
      this.canSendBinary = false;
      this.closed = new Promise((resolve) => {
        socket.onclose = (event) => resolve({ code: event.code, reason: String(event.reason) });
      });
      socket.onmessage = (event) => this.onData(Buffer.from(String(event.data), 'utf8'), false);
    }
  }

  /** Opens a `ws` socket to `url`, resolving once the handshake completed. */
  static async open(url: string, options: RawOptions = {}): Promise<RawStomp> {
    const socket = new WebSocket(url, options.protocols ?? STOMP_SUBPROTOCOLS, { headers: options.headers });
    const peer = new RawStomp(socket);
    await within(new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
      socket.once('unexpected-response', (_req, res) => reject(new Error(`handshake answered ${res.statusCode}`)));
    }), `WebSocket handshake with ${url}`);
    return peer;
  }

  /** Opens sockjs-client on `url` (e.g. `http://…/sockjs`) forced onto `transport`, resolving once open. */
  static async openSockJs(url: string, transport: SockJsTransportName, sockjsOptions: SockJS.Options = {}): Promise<RawStomp> {
    const socket = new SockJS(url, null, { ...sockjsOptions, transports: [transport] });
    const peer = new RawStomp(socket);
    await within(new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      peer.closed.then(({ code, reason }) => reject(new Error(`SockJS closed before open: ${code} ${reason}`)));
    }), `SockJS ${transport} open on ${url}`);
    return peer;
  }

  get open(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  /** Sends raw bytes as one message (text unless `binary`; sockjs-client cannot send binary). */
  send(data: string | Buffer, binary = false): void {
    if (this.socket instanceof WebSocket) {
      this.socket.send(data, { binary });
      return;
    }
    if (binary) throw new Error('sockjs-client sends text only');
    this.socket.send(Buffer.isBuffer(data) ? data.toString('utf8') : data);
  }

  /** Sends one well-formed frame. Header values are sent as given (no escaping). */
  sendFrame(command: string, headers: Record<string, string | number> = {}, body: string | Buffer = ''): void {
    if (command === 'CONNECT' || command === 'STOMP') {
      const offered = String(headers['accept-version'] ?? '').split(',').map((v) => v.trim());
      this.escaping = offered.includes('1.2') ? '1.2' : offered.includes('1.1') ? '1.1' : '1.0';
    }
    this.send(encodeRawFrame(command, headers, body), Buffer.isBuffer(body) && this.canSendBinary);
  }

  /** CONNECT (1.2 unless headers say otherwise) and wait for CONNECTED; throws on ERROR. */
  async connect(headers: Record<string, string> = {}): Promise<RawFrame> {
    this.sendFrame('CONNECT', { 'accept-version': '1.2', host: 'localhost', ...headers });
    const frame = await this.frames.next('CONNECTED');
    if (frame.command !== 'CONNECTED') throw new Error(`expected CONNECTED, got ${frame.command} ${JSON.stringify(frame.headers)}`);
    return frame;
  }

  /** The next frame, which must be `command`. */
  async expect(command: string, what = command): Promise<RawFrame> {
    const frame = await this.frames.next(what);
    if (frame.command !== command) {
      throw new Error(`expected ${command}, got ${frame.command} ${JSON.stringify(frame.headers)} ${frame.body.toString().slice(0, 200)}`);
    }
    return frame;
  }

  /** Skips frames until an ERROR arrives. */
  async nextError(ms = WAIT_MS): Promise<RawFrame> {
    for (;;) {
      const frame = await this.frames.next('an ERROR frame', ms);
      if (frame.command === 'ERROR') return frame;
    }
  }

  /** Waits for the server to close the socket. */
  waitClosed(ms = WAIT_MS): Promise<{ code: number; reason: string }> {
    return within(this.closed, 'the server to close the socket', ms);
  }

  close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return Promise.resolve();
    if (this.socket instanceof WebSocket) this.socket.terminate();
    else this.socket.close();
    return this.closed.then(() => undefined);
  }

  private onData(chunk: Buffer, binary: boolean): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const frame = this.parseOne(binary);
      if (frame === undefined) return;
      this.frames.push(frame);
    }
  }

  /** Takes one frame (recording heart-beats before it) off the buffer, or undefined if incomplete. */
  private parseOne(binary: boolean): RawFrame | undefined {
    let buf = this.buffer;
    while (buf.length > 0 && (buf[0] === 0x0a || (buf[0] === 0x0d && buf[1] === 0x0a))) {
      const eol = buf[0] === 0x0a ? 1 : 2;
      this.heartbeats.push(performance.now());
      buf = buf.subarray(eol);
    }
    this.buffer = buf;
    const headerEnd = buf.indexOf('\n\n');
    const crlfEnd = buf.indexOf('\r\n\r\n');
    let end: number;
    let sep: number;
    if (crlfEnd !== -1 && (headerEnd === -1 || crlfEnd < headerEnd)) { end = crlfEnd; sep = 4; } else if (headerEnd !== -1) { end = headerEnd; sep = 2; } else return undefined;
    const lines = buf.subarray(0, end).toString('utf8').split(/\r?\n/);
    const command = lines[0];
    const headers: Record<string, string> = {};
    const escape = command !== 'CONNECTED' && this.escaping !== '1.0';
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      const name = unescapeHeader(line.slice(0, colon), escape);
      if (!(name in headers)) headers[name] = unescapeHeader(line.slice(colon + 1), escape);
    }
    if (command === 'CONNECTED') this.escaping = headers.version === '1.1' || headers.version === '1.2' ? headers.version : '1.0';
    const bodyStart = end + sep;
    let bodyEnd: number;
    if (headers['content-length'] !== undefined) {
      bodyEnd = bodyStart + Number(headers['content-length']);
      if (buf.length < bodyEnd + 1) return undefined;
      if (buf[bodyEnd] !== 0) throw new Error(`server frame ${command}: no NUL after content-length bytes`);
    } else {
      bodyEnd = buf.indexOf(0, bodyStart);
      if (bodyEnd === -1) return undefined;
    }
    const body = Buffer.from(buf.subarray(bodyStart, bodyEnd));
    this.buffer = buf.subarray(bodyEnd + 1);
    return { command, headers, body, binary };
  }
}

/** One way a raw peer reaches the relay. */
export interface RawChannel {
  name: string;
  /** Whether the peer can send binary messages (sockjs-client cannot). */
  binary: boolean;
  /** Opens a peer; `query` (e.g. `access_token=…`) goes on the URL, as a browser would put it. */
  open(server: TestRelay, query?: string): Promise<RawStomp>;
}

function withQuery(url: string, query: string | undefined): string {
  return query ? `${url}?${query}` : url;
}

/**
 * Every way in: the plain WebSocket endpoint, SockJS's raw WebSocket endpoint (what stomp.py and
 * other plain STOMP-over-WebSocket clients use; it offers no STOMP subprotocol), and SockJS's framed
 * transports through sockjs-client.
 */
export const RAW_CHANNELS: readonly RawChannel[] = [
  { name: 'WebSocket /ws', binary: true, open: (s, q) => RawStomp.open(withQuery(s.wsUrl, q)) },
  { name: 'SockJS raw WebSocket /sockjs/websocket', binary: true, open: (s, q) => RawStomp.open(withQuery(s.sockjsRawWsUrl, q), { protocols: [] }) },
  ...(['websocket', 'xhr-streaming', 'xhr-polling'] as const).map((transport): RawChannel => ({
    name: `SockJS ${transport}`,
    binary: false,
    open: (s, q) => RawStomp.openSockJs(withQuery(s.sockjsUrl, q), transport),
  })),
];

function unescapeHeader(s: string, escape: boolean): string {
  if (!escape || !s.includes('\\')) return s;
  return s.replace(/\\([rnc\\])/g, (_, c: string) => ({ r: '\r', n: '\n', c: ':', '\\': '\\' })[c] as string);
}

/** Encodes a frame as bytes, headers verbatim, adding content-length for Buffer bodies. */
export function encodeRawFrame(command: string, headers: Record<string, string | number> = {}, body: string | Buffer = ''): Buffer {
  const h = { ...headers };
  if (Buffer.isBuffer(body) && h['content-length'] === undefined) h['content-length'] = body.length;
  const head = [command, ...Object.entries(h).map(([k, v]) => `${k}:${v}`), '', ''].join('\n');
  return Buffer.concat([Buffer.from(head, 'utf8'), Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'), Buffer.from([0])]);
}

function toBuffer(data: WebSocket.RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

// --- HTTP ------------------------------------------------------------------------------------------

export interface JsonResponse {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

/** fetch + parse JSON (when it is JSON). */
export async function request(url: string, init: RequestInit = {}, ms = WAIT_MS): Promise<JsonResponse> {
  const res = await within(fetch(url, init), `${init.method ?? 'GET'} ${url}`, ms);
  const text = await res.text();
  let body: unknown;
  try { body = JSON.parse(text); } catch { body = undefined; }
  return { status: res.status, headers: res.headers, body, text };
}

/**
 * `POST /push/:user` with a JSON body (or a raw string body when `raw` is given). `ms` bounds the
 * wait for the answer (a burst of a thousand requests queues behind itself on a loaded box).
 */
export function push(server: TestRelay, user: string, body: unknown, options: { token?: string; raw?: string; ms?: number } = {}): Promise<JsonResponse> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  return request(`${server.http}/push/${encodeURIComponent(user)}`, {
    method: 'POST',
    headers,
    body: options.raw ?? JSON.stringify(body),
  }, options.ms);
}

/**
 * Calls the relay's HTTP API: `method` `path` (e.g. `POST /push`) on `base` (a relay's `http` or
 * its `admin` URL), with a JSON body (or `raw` bytes) and an optional bearer token.
 */
export function api(base: string | TestRelay, method: string, path: string, body?: unknown, options: { token?: string; raw?: string; ms?: number } = {}): Promise<JsonResponse> {
  const headers: Record<string, string> = {};
  if (body !== undefined || options.raw !== undefined) headers['content-type'] = 'application/json';
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const url = `${typeof base === 'string' ? base : base.http}${path}`;
  return request(url, { method, headers, body: options.raw ?? (body === undefined ? undefined : JSON.stringify(body)) }, options.ms);
}

/** Value of one Prometheus sample, e.g. `stomp_relay_sessions{transport="ws"}`; undefined if absent. */
export function metricValue(exposition: string, sample: string): number | undefined {
  for (const line of exposition.split('\n')) {
    if (line.startsWith(sample + ' ')) return Number(line.slice(sample.length + 1));
  }
  return undefined;
}

// --- SockJS by hand --------------------------------------------------------------------------------

/** What one SockJS receiving request answered: the HTTP status and the SockJS frames in the body. */
export interface SockJsPollResult {
  status: number;
  /** `o` (open), `h` (heart-beat), `a` (messages), `c` (close), in order. */
  kinds: string[];
  /** The messages of every `a` frame (STOMP text). */
  messages: string[];
  text: string;
}

/**
 * SockJS's xhr-polling transport driven request by request, with whatever query and headers a test
 * chooses: to play a client that learned another's session id. `base` is
 * `http://host:port/sockjs/<server>/<session>`.
 */
export class SockJsXhr {
  constructor(readonly base: string, readonly query = '', readonly headers: Record<string, string> = {}) {}

  /** One `xhr` request: opens the session (first time) or takes what is queued for it. */
  async poll(): Promise<SockJsPollResult> {
    const res = await request(this.url('xhr'), { method: 'POST', headers: this.headers });
    const kinds: string[] = [];
    const messages: string[] = [];
    for (const line of res.text.split('\n').filter(Boolean)) {
      kinds.push(line[0]);
      if (line[0] === 'a') messages.push(...(JSON.parse(line.slice(1)) as string[]));
    }
    return { status: res.status, kinds, messages, text: res.text };
  }

  /** One `xhr_send` request carrying `messages`; resolves with the HTTP status (204 = taken). */
  async send(...messages: string[]): Promise<number> {
    const res = await request(this.url('xhr_send'), {
      method: 'POST',
      headers: { 'content-type': 'text/plain;charset=UTF-8', ...this.headers },
      body: JSON.stringify(messages),
    });
    return res.status;
  }

  /**
   * Polls until messages arrive (a poll is held open until there is something to send; it may come
   * back with only a heart-beat). Throws on a close frame or an HTTP error.
   */
  async nextMessages(what: string): Promise<string[]> {
    for (;;) {
      const result = await this.poll();
      if (result.status !== 200 || result.kinds.includes('c')) throw new Error(`${what}: got ${result.status} ${result.text}`);
      if (result.messages.length > 0) return result.messages;
    }
  }

  private url(transport: string): string {
    return `${this.base}/${transport}${this.query ? `?${this.query}` : ''}`;
  }
}
