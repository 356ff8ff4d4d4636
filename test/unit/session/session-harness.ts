/**
 * Test doubles for the session layer: an in-memory {@link Transport} that plays the client side
 * (encodes what the test sends, parses what the server writes), and a hub over the real MemoryBroker.
 */
import { isUtf8 } from 'node:buffer';
import { headers, type StompFrame, type StompVersion } from '../../../server/codec/frame';
import { StompParser } from '../../../server/codec/parser';
import { encodeFrame } from '../../../server/codec/serializer';
import { resolveConfig, type RelayConfig, type RelayOptions } from '../../../server/config';
import { MemoryBroker } from '../../../server/broker/memory/memory-broker';
import type { Broker } from '../../../server/broker/broker';
import type { Authenticator } from '../../../server/auth/authenticator';
import { DevLoginAuthenticator } from '../../../server/auth/dev-login-authenticator';
import { RelayMetrics } from '../../../server/observability/metrics';
import { silentLogger } from '../../../server/observability/logger';
import { SessionHub, type SessionHubOptions } from '../../../server/session/session-hub';
import type { StompSession } from '../../../server/session/stomp-session';
import type { HandshakeInfo, Transport, TransportEvents, TransportKind } from '../../../server/transport/transport';

const DEFAULT_WAIT_MS = 2000;

export interface SentChunk {
  data: Buffer;
  binary: boolean;
}

/** A transport whose far end is the test. */
export class FakeTransport implements Transport {
  readonly kind: TransportKind;
  readonly textOnly: boolean;
  readonly handshake: HandshakeInfo = { remoteAddress: '127.0.0.1', url: '/ws', headers: {} };
  /** Set by tests to simulate a socket that does not drain. */
  bufferedAmount = 0;
  readonly sent: SentChunk[] = [];
  /** Frames the server wrote, in order. */
  readonly frames: StompFrame[] = [];
  heartbeatsReceived = 0;
  closeCalls = 0;
  destroyCalls = 0;
  /** Set by tests: make the adapter's close() or send() throw, as a socket library may. */
  readonly failing: { close?: boolean; send?: boolean } = {};
  /** The session the hub bound to this transport (set by {@link TestHub.open}). */
  session!: StompSession;
  /** True once closed from either side. */
  isClosed = false;
  /** Resolves when the session was told the transport closed. */
  readonly closedEvent: Promise<void>;

  private events: TransportEvents | undefined;
  private readonly parser: StompParser;
  private cursor = 0;
  private readonly changed = new Set<() => void>();
  private resolveClosed!: () => void;
  private clientVersion: StompVersion = '1.2';

  /** Set by tests: the socket closed before the session bound to it (the adapter reports close inside bind). */
  private readonly closedAtBind: boolean;

  constructor(options: { kind?: TransportKind; textOnly?: boolean; closedAtBind?: boolean } = {}) {
    this.kind = options.kind ?? 'ws';
    this.closedAtBind = options.closedAtBind ?? false;
    this.textOnly = options.textOnly ?? this.kind === 'sockjs';
    this.closedEvent = new Promise((resolve) => { this.resolveClosed = resolve; });
    this.parser = new StompParser({
      onFrame: (frame) => {
        if (frame.command === 'CONNECTED' && frame.headers.version) {
          this.clientVersion = frame.headers.version as StompVersion;
          this.parser.version = this.clientVersion;
        }
        this.frames.push(frame);
      },
      onHeartbeat: () => { this.heartbeatsReceived++; },
    });
  }

  // --- Transport (server side) ---

  bind(events: TransportEvents): void {
    this.events = events;
    if (this.closedAtBind) {
      this.isClosed = true;
      this.fireClose();
    }
  }

  send(data: Buffer, binary: boolean): void {
    if (this.failing.send) throw new Error('the socket library refused the write');
    if (this.isClosed) throw new Error('session wrote to a closed transport');
    this.sent.push({ data, binary });
    this.parser.push(data);
    this.notify();
  }

  close(): void {
    this.closeCalls++;
    if (this.failing.close) throw new Error('The code must be either 1000, or between 3000 and 4999');
    if (this.isClosed) return;
    this.isClosed = true;
    this.notify();
    // A real transport reports close once queued bytes are flushed: later, never inside close().
    setImmediate(() => this.fireClose());
  }

  destroy(): void {
    this.destroyCalls++;
    if (this.isClosed) return;
    this.isClosed = true;
    this.notify();
    setImmediate(() => this.fireClose());
  }

  // --- the client side, driven by tests ---

  /** Sends raw bytes as the client. */
  receive(chunk: Buffer | string): void {
    this.events!.data(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  }

  /** Sends one frame as the client (escaped for the negotiated version). */
  sendFrame(command: string, init: Record<string, string | number | undefined> = {}, body: Buffer | string = ''): void {
    const frame = { command, headers: headers(init), body: typeof body === 'string' ? Buffer.from(body) : body };
    this.receive(encodeFrame(frame, this.clientVersion));
  }

  /** The client goes away without DISCONNECT. */
  drop(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.fireClose();
  }

  /** Next frame not yet taken by a previous call, waiting for it if needed. */
  async next(command?: string, timeoutMs = DEFAULT_WAIT_MS): Promise<StompFrame> {
    await this.waitFor(() => this.cursor < this.frames.length, timeoutMs, `a frame (${command ?? 'any'})`);
    const frame = this.frames[this.cursor++];
    if (command !== undefined && frame.command !== command) {
      throw new Error(`expected ${command}, got ${frame.command} ${JSON.stringify(frame.headers)} ${frame.body.toString()}`);
    }
    return frame;
  }

  /**
   * Takes the first untaken frame with this command, leaving frames before it for {@link next}:
   * for frames whose relative order the protocol does not fix (a queue's MESSAGE may overtake the
   * SUBSCRIBE receipt).
   */
  async take(command: string, timeoutMs = DEFAULT_WAIT_MS): Promise<StompFrame> {
    const find = () => this.frames.findIndex((f, i) => i >= this.cursor && f.command === command);
    await this.waitFor(() => find() >= 0, timeoutMs, command);
    return this.frames.splice(find(), 1)[0];
  }

  /** Frames not taken yet. */
  pending(): StompFrame[] {
    return this.frames.slice(this.cursor);
  }

  /** Waits for the ERROR frame and the close that must follow it; returns the ERROR. */
  async expectError(code: string): Promise<StompFrame> {
    const frame = await this.next('ERROR');
    if (frame.headers.code !== code) throw new Error(`expected ERROR ${code}, got ${frame.headers.code}: ${frame.headers.message}`);
    await this.closedEvent;
    return frame;
  }

  /** Resolves once `condition()` holds, re-checked on every write/close; rejects after `timeoutMs`. */
  waitFor(condition: () => boolean, timeoutMs = DEFAULT_WAIT_MS, what = 'condition'): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!condition()) return;
        clearTimeout(timer);
        this.changed.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.changed.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.changed.add(check);
    });
  }

  /** Whether the bytes of a sent chunk are valid UTF-8. */
  static isText(chunk: SentChunk): boolean {
    return isUtf8(chunk.data);
  }

  private fireClose(): void {
    this.events?.close();
    this.resolveClosed();
    this.notify();
  }

  private notify(): void {
    for (const check of [...this.changed]) check();
  }
}

export interface TestHub {
  hub: SessionHub;
  broker: Broker;
  config: RelayConfig;
  metrics: RelayMetrics;
  /** Opens a transport to the hub and, unless `connect: false`, completes CONNECT. */
  open(options?: OpenOptions): Promise<FakeTransport>;
  stop(): Promise<void>;
}

export interface OpenOptions {
  login?: string;
  acceptVersion?: string;
  heartBeat?: string;
  kind?: TransportKind;
  textOnly?: boolean;
  connect?: boolean;
}

/** Heart-beats off unless a test asks: timers must not fire in unrelated tests. */
const QUIET: RelayOptions = { heartbeat: { sendMs: 0, receiveMs: 0 } };

export async function createTestHub(
  options: RelayOptions = {},
  extra: Partial<Omit<SessionHubOptions, 'config'>> & { authenticator?: Authenticator } = {}
): Promise<TestHub> {
  const config = resolveConfig({
    ...QUIET,
    ...options,
    heartbeat: { ...QUIET.heartbeat, ...options.heartbeat },
    limits: options.limits,
  });
  const broker = extra.broker ?? new MemoryBroker();
  await broker.start();
  const metrics = extra.metrics ?? new RelayMetrics();
  const hub = new SessionHub({
    broker,
    config,
    metrics,
    authenticator: extra.authenticator ?? new DevLoginAuthenticator(),
    logger: extra.logger ?? silentLogger(),
    router: extra.router,
    encoder: extra.encoder,
    expiries: extra.expiries,
    heartbeats: extra.heartbeats,
  });
  const transports: FakeTransport[] = [];
  return {
    hub,
    broker,
    config,
    metrics,
    async open(o: OpenOptions = {}) {
      const transport = new FakeTransport({ kind: o.kind, textOnly: o.textOnly });
      transports.push(transport);
      transport.session = hub.accept(transport);
      if (o.connect !== false) {
        transport.sendFrame('CONNECT', {
          'accept-version': o.acceptVersion ?? '1.2',
          host: 'localhost',
          login: o.login,
          'heart-beat': o.heartBeat,
        });
        await transport.next('CONNECTED');
      }
      return transport;
    },
    async stop() {
      for (const t of transports) t.drop();
      await broker.stop();
    },
  };
}
