/**
 * One STOMP 1.2 connection over TCP to RabbitMQ's STOMP plugin. It knows frames, receipts and
 * heart-beats; which subscriptions ride on it is the pool's business.
 *
 * Spec: https://stomp.github.io/stomp-specification-1.2.html
 * RabbitMQ specifics: https://www.rabbitmq.com/stomp.html
 */
import * as net from 'node:net';
import { StompParser } from '../../codec/parser';
import { encodeFrame, HEARTBEAT_EOL } from '../../codec/serializer';
import { headers as makeHeaders, type ParserLimits, type StompFrame, type StompHeaders } from '../../codec/frame';
import { corkForTick } from '../../cork-per-tick';
import { Errors, RelayError, relayError } from '../../errors';
import type { BrokerEndpoint } from '../../config';
import { brokerErrorToRelayError } from './broker-errors';

export interface BrokerConnectionOptions {
  endpoint: BrokerEndpoint;
  /** Heart-beat interval offered and asked for, both ways. 0 disables heart-beats. */
  heartbeatMs: number;
  /** Bound on TCP connect + CONNECT/CONNECTED. */
  connectTimeoutMs: number;
  /** Limits for frames from RabbitMQ (they carry whatever any publisher sent). */
  parserLimits?: Partial<ParserLimits>;
}

export interface BrokerConnectionHandler {
  /** A MESSAGE frame. */
  onMessage(frame: StompFrame): void;
  /** An ERROR frame that answers no request of ours (e.g. RabbitMQ cancelled a subscription). */
  onError(error: RelayError, frame: StompFrame): void;
  /** The connection is gone (socket closed, heart-beat timeout, ERROR then close). Called once. */
  onClose(reason: RelayError): void;
}

/**
 * Why {@link BrokerConnection.open} failed when RabbitMQ answered CONNECT with ERROR (wrong
 * credentials, no access to the vhost) rather than being unreachable: retrying will not help until
 * someone changes the configuration, so operators must hear RabbitMQ's reason. Still
 * BROKER_UNAVAILABLE to everything that just needs a connection; the credential check
 * (credential-check.ts) and the pool's logs tell them apart.
 */
export class ConnectRefusedError extends RelayError {
  constructor(
    message: string,
    readonly brokerError: RelayError,
    /** RabbitMQ's ERROR frame: its `message` header and (the start of) its body. */
    readonly refusal: { readonly message: string; readonly body: string },
  ) {
    super(Errors.BROKER_UNAVAILABLE, message);
  }
}

export function isConnectRefused(err: unknown): err is ConnectRefusedError {
  return err instanceof ConnectRefusedError;
}

interface PendingReceipt {
  resolve(): void;
  reject(error: RelayError): void;
}

/** How much longer than the negotiated interval the broker may stay silent (STOMP §Heart-beating). */
const HEARTBEAT_GRACE = 2;
/** Writes beyond this many queued bytes make {@link BrokerConnection.write} wait for 'drain'. */
const WRITE_HIGH_WATER = 1024 * 1024;

export class BrokerConnection {
  private readonly socket: net.Socket;
  private readonly parser: StompParser;
  private readonly pending = new Map<string, PendingReceipt>();
  private handler: BrokerConnectionHandler | undefined;
  private nextReceipt = 0;
  /** An ERROR without `receipt-id`: RabbitMQ sends the offending frame's RECEIPT right after it. */
  private unattributedError: { error: RelayError; frame: StompFrame } | undefined;
  private closedWith: RelayError | undefined;
  private lastReceivedAt = Date.now();
  private lastSentAt = Date.now();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private readonly waiters: Array<{ resolve(): void; reject(e: RelayError): void }> = [];

  private constructor(socket: net.Socket, parserLimits: Partial<ParserLimits> | undefined) {
    this.socket = socket;
    this.parser = new StompParser(
      {
        onFrame: (frame) => this.onFrame(frame),
        onHeartbeat: () => {
          /* lastReceivedAt is updated per chunk */
        },
      },
      parserLimits,
    );
  }

  /**
   * Opens a connection: TCP, CONNECT, CONNECTED. Rejects with BROKER_UNAVAILABLE (unreachable,
   * timeout, refused login: RabbitMQ answers a bad login with ERROR).
   */
  static open(options: BrokerConnectionOptions, handler: BrokerConnectionHandler): Promise<BrokerConnection> {
    const { endpoint } = options;
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: endpoint.host, port: endpoint.port });
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 30_000);
      const connection = new BrokerConnection(socket, {
        maxFrameBytes: 32 * 1024 * 1024,
        maxHeaders: 1024,
        maxHeaderLineBytes: 256 * 1024,
        ...options.parserLimits,
      });
      const timer = setTimeout(
        () =>
          fail(
            relayError(
              Errors.BROKER_UNAVAILABLE,
              `no CONNECTED from ${endpoint.host}:${endpoint.port} within ${options.connectTimeoutMs} ms`,
            ),
          ),
        options.connectTimeoutMs,
      );
      const fail = (error: RelayError): void => {
        clearTimeout(timer);
        connection.shutdown(error);
        reject(error);
      };
      connection.awaitConnected = (frame) => {
        clearTimeout(timer);
        if (frame.command !== 'CONNECTED') {
          const brokerError = brokerErrorToRelayError(frame);
          const refusal = {
            message: frame.headers.message ?? frame.command,
            body: frame.body.toString('utf8', 0, Math.min(frame.body.length, 512)).trim(),
          };
          fail(new ConnectRefusedError(`${endpoint.host}:${endpoint.port} refused CONNECT (${brokerError.message})`, brokerError, refusal));
          return;
        }
        connection.handler = handler;
        connection.startHeartbeats(frame.headers['heart-beat'], options.heartbeatMs);
        resolve(connection);
      };
      socket.on('data', (chunk: Buffer) => connection.onData(chunk));
      socket.on('error', (err) => {
        const error = relayError(Errors.BROKER_UNAVAILABLE, `${endpoint.host}:${endpoint.port}: ${err.message}`);
        if (connection.handler) connection.shutdown(error);
        else fail(error);
      });
      socket.on('close', () => {
        const reason = connection.unattributedError?.error.message ?? 'connection closed by the broker';
        const error = relayError(Errors.BROKER_UNAVAILABLE, reason);
        if (connection.handler) connection.shutdown(error);
        else fail(error);
      });
      socket.once('connect', () => {
        const hb = options.heartbeatMs;
        connection.sendFrame({
          command: 'CONNECT',
          headers: makeHeaders({
            'accept-version': '1.2',
            host: endpoint.vhost,
            login: endpoint.login,
            passcode: endpoint.passcode,
            'heart-beat': `${hb},${hb}`,
          }),
          body: Buffer.alloc(0),
        });
      });
    });
  }

  /** Set while waiting for CONNECTED; see {@link open}. */
  private awaitConnected: ((frame: StompFrame) => void) | undefined;

  /**
   * The last ERROR frame RabbitMQ sent on this connection, as a catalogue error. After RabbitMQ
   * closed the connection it says why better than the close does.
   */
  get lastBrokerError(): RelayError | undefined {
    return this.lastError;
  }
  private lastError: RelayError | undefined;

  /** True once closed for any reason; nothing can be sent any more. */
  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /**
   * Sends a frame. Resolves once the socket has room for more (back-pressure towards publishers);
   * rejects with BROKER_UNAVAILABLE if the connection is closed.
   */
  write(frame: StompFrame): Promise<void> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    this.sendFrame(frame);
    if (this.socket.writableLength < WRITE_HIGH_WATER) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      if (this.waiters.length === 1) this.socket.once('drain', () => this.releaseWaiters());
    });
  }

  /** Sends a frame without waiting; silently does nothing once closed (the close was reported). */
  send(frame: StompFrame): void {
    if (!this.closedWith) this.sendFrame(frame);
  }

  /**
   * Sends a frame with a `receipt` header and resolves on its RECEIPT; rejects with the broker's
   * error if RabbitMQ answers it with ERROR, or BROKER_UNAVAILABLE if the connection closes first.
   */
  request(frame: StompFrame): Promise<void> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const id = `r${++this.nextReceipt}`;
    const headers: StompHeaders = Object.assign(Object.create(null) as StompHeaders, frame.headers);
    headers.receipt = id;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.sendFrame({ command: frame.command, headers, body: frame.body });
    });
  }

  /** Sends DISCONNECT (waiting briefly for its receipt so RabbitMQ sees a clean close), then closes. */
  async close(timeoutMs = 2000): Promise<void> {
    if (this.closedWith) return;
    const goodbye = this.request({ command: 'DISCONNECT', headers: makeHeaders(), body: Buffer.alloc(0) }).catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      goodbye,
      new Promise((r) => {
        timer = setTimeout(r, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    this.shutdown(relayError(Errors.BROKER_UNAVAILABLE, 'connection closed by the relay'));
  }

  /** Ends the connection now (tests use it to simulate a network failure). */
  destroy(reason = 'connection destroyed'): void {
    this.shutdown(relayError(Errors.BROKER_UNAVAILABLE, reason));
  }

  /**
   * Frames written in one turn of the event loop (the SENDs of a publisher's burst) leave in one
   * `writev` rather than one system call each, as the ws transport does towards clients: the socket
   * is corked on the first write of the tick and uncorked right after it.
   */
  private sendFrame(frame: StompFrame): void {
    this.lastSentAt = Date.now();
    corkForTick(this.socket);
    this.socket.write(encodeFrame(frame, '1.2'));
  }

  private onData(chunk: Buffer): void {
    this.lastReceivedAt = Date.now();
    try {
      this.parser.push(chunk);
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      this.shutdown(relayError(Errors.BROKER_ERROR, `unreadable frame from the broker: ${detail}`));
    }
  }

  private onFrame(frame: StompFrame): void {
    if (this.awaitConnected) {
      const callback = this.awaitConnected;
      this.awaitConnected = undefined;
      callback(frame);
      return;
    }
    const stray = this.unattributedError;
    this.unattributedError = undefined;
    switch (frame.command) {
      case 'MESSAGE':
        if (stray) this.handler?.onError(stray.error, stray.frame);
        this.handler?.onMessage(frame);
        return;
      case 'RECEIPT': {
        const id = frame.headers['receipt-id'];
        const waiting = id === undefined ? undefined : this.pending.get(id);
        if (!waiting || !id) {
          if (stray) this.handler?.onError(stray.error, stray.frame);
          return;
        }
        this.pending.delete(id);
        if (stray) waiting.reject(stray.error);
        else waiting.resolve();
        return;
      }
      case 'ERROR': {
        if (stray) this.handler?.onError(stray.error, stray.frame);
        const error = brokerErrorToRelayError(frame);
        this.lastError = error;
        const id = frame.headers['receipt-id'];
        const waiting = id === undefined ? undefined : this.pending.get(id);
        if (waiting && id) {
          this.pending.delete(id);
          waiting.reject(error);
        } else if (frame.headers.message === 'Subscription not found') {
          // RabbitMQ got a delivery for a subscription that just ended; answers no request of ours.
          this.handler?.onError(error, frame);
        } else {
          this.unattributedError = { error, frame };
        }
        return;
      }
      default:
        return; // CONNECTED again or an unknown command: nothing to do with it
    }
  }

  private startHeartbeats(serverHeader: string | undefined, wantedMs: number): void {
    if (wantedMs <= 0 || !serverHeader) return;
    const comma = serverHeader.indexOf(',');
    const serverSends = Number(serverHeader.slice(0, comma)) || 0;
    const serverWants = Number(serverHeader.slice(comma + 1)) || 0;
    const sendEvery = serverWants > 0 ? Math.max(wantedMs, serverWants) : 0;
    const expectEvery = serverSends > 0 ? Math.max(wantedMs, serverSends) : 0;
    if (sendEvery === 0 && expectEvery === 0) return;
    const tick = Math.max(50, Math.min(sendEvery || Infinity, expectEvery || Infinity) / 2);
    this.heartbeatTimer = setInterval(() => {
      const now = Date.now();
      if (expectEvery > 0 && now - this.lastReceivedAt > expectEvery * HEARTBEAT_GRACE) {
        this.shutdown(relayError(Errors.BROKER_UNAVAILABLE, `no heart-beat from the broker for ${now - this.lastReceivedAt} ms`));
        return;
      }
      if (sendEvery > 0 && now - this.lastSentAt >= sendEvery) {
        this.lastSentAt = now;
        this.socket.write(HEARTBEAT_EOL);
      }
    }, tick);
    this.heartbeatTimer.unref();
  }

  private releaseWaiters(): void {
    for (const waiter of this.waiters.splice(0)) waiter.resolve();
  }

  /** Closes everything once: pending receipts and writers fail, the handler hears about it. */
  private shutdown(reason: RelayError): void {
    if (this.closedWith) return;
    this.closedWith = reason;
    clearInterval(this.heartbeatTimer);
    // What this tick wrote leaves first, as it did before writes were corked (a NACK sent just
    // before a frame the parser refuses would otherwise be lost, and its message redelivered).
    this.socket.uncork();
    this.socket.destroy();
    for (const waiting of this.pending.values()) waiting.reject(reason);
    this.pending.clear();
    for (const waiter of this.waiters.splice(0)) waiter.reject(reason);
    this.handler?.onClose(reason);
  }
}
