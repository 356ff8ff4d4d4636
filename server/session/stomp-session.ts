/**
 * One STOMP session per client connection, whatever carries it: this class sees only the
 * {@link Transport} interface (never `ws` or `sockjs`). It owns the byte side of the session: parsing
 * input, running frames in order, writing output, heart-beats, the slow-consumer limit, and closing.
 * What each frame means lives in {@link SessionProtocol}.
 *
 * ## Outbound buffering policy (docs/protocol.md)
 * Before every write the session checks the transport's `bufferedAmount`. Above
 * `limits.maxBufferedBytes` the client is a slow consumer: the session ends with ERROR SLOW_CONSUMER
 * (counted in stomp_relay_slow_consumer_disconnects_total) rather than buffering without bound. Its
 * consumers close, so `client` / `client-individual` messages not yet acked go back to their queues
 * (nothing is lost for queues); topics are at-most-once, so what the slow client missed is gone.
 *
 * ## Inbound
 * Frames run one after another. A handler that must finish before the next frame (SUBSCRIBE waiting
 * for the broker, CONNECT waiting for authentication) holds later frames in a queue bounded by
 * `limits.maxBufferedBytes` bytes; a client that outruns the broker beyond that is closed (ERROR
 * BROKER_UNAVAILABLE) instead of growing memory.
 *
 * ## Lifecycle
 * One state, {@link StompSession.state}, that every part of the session reads (the protocol through
 * {@link SessionIo.state}); nothing else says where a session is in its life:
 *
 *     awaiting-connect ──CONNECT──▶ connecting ──CONNECTED written──▶ connected ──DISCONNECT, shutdown──▶ draining
 *            │                          │                                 │                                 │
 *            └──────────────────────────┴─── ERROR, timeout, transport close, slow consumer ────────────────┴──▶ closed
 *
 * - `awaiting-connect`: only CONNECT/STOMP is taken; the CONNECT deadline runs.
 * - `connecting`: the CONNECT is being authenticated; later frames wait in the inbox.
 * - `connected`: CONNECTED was written; the session counts in metrics, presence and events
 *   (`session:connect` went out, so `session:disconnect` will).
 * - `draining`: no more frames are taken; work under way finishes (its RECEIPTs still go out),
 *   then the session closes.
 * - `closed`: torn down once, whatever ended it; nothing is written any more.
 *
 * ## Errors
 * Every error ends the session: ERROR with `message` and `code` (and `receipt-id` when the offending
 * frame carried `receipt`), then the transport closes once the ERROR is flushed. Nothing a client
 * sends can throw out of this class; an unexpected exception is logged and reported generically.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { isUtf8 } from 'node:buffer';
import type { Principal } from '../auth/authenticator';
import {
  SERVER_COMMANDS,
  SUPPORTED_VERSIONS,
  CLIENT_COMMANDS,
  headers as makeHeaders,
  type StompFrame,
  type StompHeaders,
  type StompVersion,
} from '../codec/frame';
import { StompParser, isHeartbeatOnly, type ParserHandler } from '../codec/parser';
import { HEARTBEAT_EOL, encodeFrame } from '../codec/serializer';
import { Errors, RelayError, isRelayError, relayError, type ErrorDefinition } from '../errors';
import type { Logger } from '../observability/logger';
import { GuardedTransport, type GuardedTransportOwner, type TransportOperation } from '../transport/guarded-transport';
import type { HandshakeInfo, Transport, TransportKind } from '../transport/transport';
import type { Deadline } from './deadline-queue';
import type { HeartbeatClock, HeartbeatTarget } from './heartbeat-timers';
import type { HeartbeatPlan } from './negotiation';
import type { SessionDeps } from './session-deps';
import { SessionProtocol, type SessionIo } from './session-protocol';
import { frozenCopy, isFrozenPlainData } from './authorization';

/**
 * Code for an exception nobody expected (a bug): the ERROR says "internal error" and the log has
 * the details, rather than borrowing an unrelated code.
 */
const INTERNAL_ERROR: ErrorDefinition = Errors.INTERNAL_ERROR;

/** What {@link HandshakeInfo.headers} holds once CONNECT is done (see `established`). */
const RELEASED_HEADERS: IncomingHttpHeaders = Object.freeze({});

const KNOWN_COMMANDS: ReadonlySet<string> = new Set<string>([...CLIENT_COMMANDS, ...SERVER_COMMANDS]);

/** Where a session is in its life (see "Lifecycle" above). */
export type SessionState = 'awaiting-connect' | 'connecting' | 'connected' | 'draining' | 'closed';

/** True for the states after CONNECTED was written and before the session closed. */
function isEstablished(state: SessionState): boolean {
  return state === 'connected' || state === 'draining';
}

/**
 * Per-session memory (an idle session is what a relay holds most of): the session is itself its
 * protocol's {@link SessionIo}, its parser's handler, its heart-beat clocks' target and its
 * transport guard's owner, so none of those needs an object and closures of its own; its child
 * logger is made on first use.
 */
export class StompSession implements SessionIo, ParserHandler, HeartbeatTarget, GuardedTransportOwner {
  /** Unique, unguessable, URL-safe (128 random bits, base64url). Sent in CONNECTED `session`. */
  readonly id: string = randomBytes(16).toString('base64url');

  private _principal: Principal | null = null;
  private _frozenPrincipal: Readonly<Principal> | null | undefined;
  private _version: StompVersion | null = null;
  private _state: SessionState = 'awaiting-connect';
  /** The ERROR the session was ended with, if any (for the 'session ended' log line). */
  private endedBy: RelayError | undefined;

  private readonly transport: GuardedTransport;
  /** @internal SessionIo */
  readonly deps: SessionDeps;
  /** Made on first use (most sessions never log). */
  private childLogger: Logger | undefined;
  /**
   * Made for the first bytes that are not a bare heart-beat, and let go of when a heart-beat arrives
   * while it is between frames (see {@link transportData}): an idle session holds none.
   */
  private parser: StompParser | undefined;
  private readonly protocol: SessionProtocol;
  private heartbeat: HeartbeatClock | undefined;
  /** The principal's expiry (a JWT's exp), in the hub's shared queue. */
  private expiry: Deadline | undefined;
  /** The transport reported close. */
  private transportClosed = false;
  /** Made when someone first asks for {@link closed} (nothing in the relay itself waits on it). */
  private closedSignal: ClosedSignal | undefined;

  /** Closes a connection that has not completed CONNECT in time; cleared once CONNECTED is sent. */
  private connectDeadline: NodeJS.Timeout | undefined;
  /** Frames waiting while a handler finishes (see "Inbound"): made when a frame first waits, dropped once empty. */
  private inbox: Inbox | undefined;
  private busy = false;

  constructor(transport: Transport, deps: SessionDeps) {
    this.deps = deps;
    // Every call into the adapter goes through the guard: nothing it throws can reach the process.
    this.transport = new GuardedTransport(transport, this);
    this.protocol = new SessionProtocol(this);
    // A connection must complete CONNECT within receiveMs × graceFactor, whatever it sends meanwhile
    // (bare EOLs included): an unauthenticated socket must not hold resources forever. Armed before
    // bind, so that a transport already closed (it reports so inside bind) clears it in teardown.
    const { receiveMs, graceFactor } = deps.config.heartbeat;
    if (receiveMs > 0) {
      const limitMs = Math.round(receiveMs * graceFactor);
      this.connectDeadline = setTimeout(() => this.end(relayError(Errors.HEARTBEAT_TIMEOUT, limitMs), undefined), limitMs);
      this.connectDeadline.unref?.();
    }
    this.transport.bind();
  }

  /** What carries the session (read through its transport: one field fewer per session). */
  get transportKind(): TransportKind {
    return this.transport.kind;
  }

  /** Resolves when the transport reported close. */
  get closed(): Promise<void> {
    if (this.closedSignal === undefined) {
      this.closedSignal = new ClosedSignal();
      if (this.transportClosed) this.closedSignal.resolve();
    }
    return this.closedSignal.promise;
  }

  /** Every line of this session names it, its transport and its peer (lifecycle lines are at debug). */
  private get logger(): Logger {
    this.childLogger ??= this.deps.logger.child({
      session: this.id,
      transport: this.transportKind,
      remoteAddress: this.transport.handshake.remoteAddress,
    });
    return this.childLogger;
  }

  /** Whether debug lines are written at all (checked before making the child logger for one). */
  private get debugging(): boolean {
    return this.deps.logger.isLevelEnabled?.('debug') !== false;
  }

  /** The authenticated user; null before CONNECT and for anonymous sessions. */
  get principal(): Principal | null {
    return this._principal;
  }

  /**
   * A deep frozen copy of {@link principal}, made once, for code outside the session that only
   * reads it (authorize functions, event listeners).
   */
  get frozenPrincipal(): Readonly<Principal> | null {
    if (this._frozenPrincipal === undefined) {
      const principal = this._principal;
      // The relay's own authenticators hand out frozen principals: those need no copy.
      this._frozenPrincipal =
        principal === null ? null : isFrozenPlainData(principal) ? principal : (frozenCopy(principal) as Readonly<Principal>);
    }
    return this._frozenPrincipal;
  }

  /** The negotiated STOMP version; null until CONNECTED was sent. */
  get version(): StompVersion | null {
    return this._version;
  }

  /** @internal SessionIo: where the session is in its life (see "Lifecycle"). */
  get state(): SessionState {
    return this._state;
  }

  /** A method, not a comparison, where a call just made may have closed the session (no narrowing). */
  private isClosed(): boolean {
    return this._state === 'closed';
  }

  /** True between CONNECTED and the session ending. */
  get connected(): boolean {
    return isEstablished(this._state);
  }

  get handshake(): HandshakeInfo {
    return this.transport.handshake;
  }

  get subscriptionCount(): number {
    return this.protocol.subscriptionCount;
  }

  /**
   * Sends a frame to the client, encoded for its version (before CONNECTED: see {@link encode}).
   * Subject to the slow-consumer limit. Returns false when the session is closing or was just closed
   * as slow.
   */
  send(frame: StompFrame): boolean {
    return this.write(this.encode(frame), !isUtf8(frame.body), frame.command);
  }

  /**
   * Encodes for the negotiated version; before CONNECTED, for the highest version the CONNECT offered
   * (1.0, nothing escaped, when none did), with colons in values left readable: clients such as
   * stomp.js unescape only once CONNECTED fixed the version.
   */
  private encode(frame: StompFrame): Buffer {
    if (this._version !== null) return encodeFrame(frame, this._version);
    return encodeFrame(frame, this.protocol.versionBeforeConnected, { readableColons: true });
  }

  /**
   * Delivers a message from the relay itself to this session's own `auto` subscriptions to
   * `brokerDestination` only, without the broker (see SessionProtocol.deliverLocal). Returns how
   * many subscriptions took it.
   */
  deliverLocal(brokerDestination: string, headers: StompHeaders, body: Buffer): number {
    return this.protocol.deliverLocal(brokerDestination, headers, body);
  }

  /**
   * Ends the session. With `error`: an ERROR frame (`message`, `code`) first. The transport closes
   * once queued bytes are flushed. Idempotent.
   */
  close(error?: RelayError): void {
    this.end(error, undefined);
  }

  /**
   * Graceful end for a server shutdown: takes no more frames, lets work already under way finish
   * (so a SEND the broker confirms now still gets its RECEIPT) for up to `graceMs`, then ends with
   * `error`.
   */
  shutdown(error: RelayError, graceMs: number): void {
    if (this._state === 'closed' || this._state === 'draining') return;
    if (this._state !== 'connected') {
      this.end(error, undefined); // nothing of a session's work can be under way before CONNECTED
      return;
    }
    this._state = 'draining';
    const busy = this.protocol.settled();
    if (busy === undefined) {
      this.end(error, undefined);
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, graceMs));
    });
    void Promise.race([busy, deadline]).then(() => {
      clearTimeout(timer);
      this.end(error, undefined);
    });
  }

  // --- input ---

  /** @internal GuardedTransportOwner: bytes from the client. */
  transportData(chunk: Buffer): void {
    if (this._state === 'closed') return;
    this.heartbeat?.noteReceived();
    this.deps.metrics.bytesReceived.inc(chunk.length);
    let parser = this.parser;
    // Bare EOLs between frames are heart-beats, which change nothing in a parser at rest: an idle
    // session (what a relay holds most of) keeps no parser, and an active one that also sends
    // heart-beats makes a new one at most once per heart-beat.
    if (parser === undefined || parser.atRest) {
      if (isHeartbeatOnly(chunk)) {
        this.parser = undefined;
        return;
      }
      if (parser === undefined) parser = this.parser = this.newParser();
    }
    try {
      parser.push(chunk);
    } catch (err) {
      // onFrame never throws, so this is the parser refusing the bytes; it stays failed.
      this.fail(err, undefined);
    }
  }

  /** A parser for what follows, in the negotiated version (the one let go of was at rest: nothing is lost). */
  private newParser(): StompParser {
    const parser = new StompParser(this, this.deps.config.limits);
    if (this._version !== null) parser.version = this._version;
    return parser;
  }

  /** @internal ParserHandler: one complete frame from the client. */
  onFrame(frame: StompFrame, frameBytes: number): void {
    if (this._state === 'closed' || this._state === 'draining') return;
    this.deps.metrics.framesIn.inc({ command: KNOWN_COMMANDS.has(frame.command) ? frame.command : 'OTHER' });
    if (this.busy) {
      this.enqueue(frame, frameBytes);
      return;
    }
    this.runFrom(frame);
  }

  /** Runs `first`, then queued frames, until one must be waited for. */
  private runFrom(first: StompFrame): void {
    let frame: StompFrame | undefined = first;
    while (frame !== undefined) {
      const pending = this.run(frame);
      if (pending !== undefined) {
        this.busy = true;
        pending.then(() => {
          this.busy = false;
          const next = this.dequeue();
          if (next !== undefined && this._state !== 'closed') this.runFrom(next);
        });
        return;
      }
      if (this._state === 'closed') return;
      frame = this.dequeue();
    }
  }

  /** One frame through its handler. Returns a promise that never rejects when later frames must wait. */
  private run(frame: StompFrame): Promise<void> | undefined {
    try {
      const result = this.protocol.handle(frame);
      if (result === undefined) return undefined;
      return result.catch((err: unknown) => this.fail(err, frame));
    } catch (err) {
      this.fail(err, frame);
      return undefined;
    }
  }

  /** Counts the whole frame (headers too) plus a little for the objects that hold it. */
  private enqueue(frame: StompFrame, frameBytes: number): void {
    const bytes = frameBytes + 64;
    const inbox = (this.inbox ??= new Inbox());
    inbox.frames.push({ frame, bytes });
    inbox.bytes += bytes;
    const limit = this.deps.config.limits.maxBufferedBytes;
    if (inbox.bytes > limit) {
      this.fail(relayError(Errors.BROKER_UNAVAILABLE, `more than ${limit} bytes of frames are waiting for it`), frame);
    }
  }

  private dequeue(): StompFrame | undefined {
    const inbox = this.inbox;
    if (inbox === undefined || inbox.head >= inbox.frames.length) return undefined;
    const { frame, bytes } = inbox.frames[inbox.head];
    inbox.frames[inbox.head++] = undefined as unknown as { frame: StompFrame; bytes: number };
    inbox.bytes -= bytes;
    if (inbox.head === inbox.frames.length) this.inbox = undefined;
    return frame;
  }

  // --- output ---

  /** Every write goes through here: slow-consumer check, heart-beat bookkeeping, metrics. */
  private write(bytes: Buffer, binary: boolean, command: string | undefined): boolean {
    if (this._state === 'closed') return false;
    const limit = this.deps.config.limits.maxBufferedBytes;
    if (this.transport.bufferedAmountAbove(limit)) {
      this.deps.metrics.slowConsumerDrops.inc();
      this.logger.info({ bufferedAmount: this.transport.bufferedAmount }, 'closing slow consumer');
      this.end(relayError(Errors.SLOW_CONSUMER, limit), undefined);
      return false;
    }
    // The heart-beat EOL has a send of its own: the adapter may write it as one pre-built frame.
    if (bytes === HEARTBEAT_EOL) this.transport.sendHeartbeat();
    else this.transport.send(bytes, binary);
    // A write the adapter refused dropped the connection (see GuardedTransport): the session is over.
    if (this.isClosed()) return false;
    this.heartbeat?.noteSent();
    const metrics = this.deps.metrics;
    metrics.bytesSent.inc(bytes.length);
    if (command === 'MESSAGE') this.deps.messagesOut.inc();
    else if (command !== undefined) metrics.framesOut.inc({ command: KNOWN_COMMANDS.has(command) ? command : 'OTHER' });
    return true;
  }

  // --- ending ---

  /**
   * @internal SessionIo: ends the session with an ERROR describing `err` (see "Errors"), with
   * `receipt-id` when `cause` asked for a receipt.
   */
  fail(err: unknown, cause?: StompFrame): void {
    if (this._state === 'closed') return;
    let error: RelayError;
    if (isRelayError(err)) {
      error = err;
    } else {
      this.logger.error({ err, command: cause?.command }, 'unexpected error while handling a frame');
      error = new RelayError(INTERNAL_ERROR, 'see server log for session ' + this.id);
    }
    this.end(error, cause?.headers.receipt);
  }

  private end(error: RelayError | undefined, receiptId: string | undefined): void {
    const previous = this._state;
    if (previous === 'closed') return;
    // Closed from here on: if a write below drops the connection, the close it reports to
    // onTransportClose must find the session already ending (teardown runs once, below).
    this._state = 'closed';
    if (error !== undefined) {
      const frame: StompFrame = {
        command: 'ERROR',
        headers: makeHeaders({
          message: error.message,
          code: error.code,
          'receipt-id': receiptId,
          // §"Protocol Negotiation": tell the client which versions we speak.
          version: error.code === Errors.UNSUPPORTED_VERSION.code ? SUPPORTED_VERSIONS.join(',') : undefined,
          'content-type': 'text/plain',
        }),
        body: Buffer.from(error.message + '\n'),
      };
      // Written past the slow-consumer check: the client should learn why it is being closed.
      const bytes = this.encode(frame);
      this.transport.send(bytes, false);
      const metrics = this.deps.metrics;
      metrics.bytesSent.inc(bytes.length);
      metrics.framesOut.inc({ command: 'ERROR' });
      metrics.protocolErrors.inc({ code: error.code });
      this.endedBy = error;
    }
    this.transport.close();
    this.teardown(previous);
  }

  /** @internal GuardedTransportOwner: the peer sent a message above the transport's bound. */
  transportMessageTooLarge(limitBytes: number): void {
    this.end(relayError(Errors.MESSAGE_TOO_LARGE, limitBytes), undefined);
  }

  /** @internal GuardedTransportOwner: a call into the adapter threw; the guard dropped the connection. */
  transportFault(operation: TransportOperation, err: unknown): void {
    this.logger.warn({ err, operation }, 'transport failed; connection dropped');
  }

  /** @internal GuardedTransportOwner: the connection ended (once). */
  transportEnded(): void {
    const previous = this._state;
    if (previous !== 'closed') {
      this._state = 'closed';
      this.teardown(previous);
    }
    this.deps.lifecycle.transportClosed(this);
    this.transportClosed = true;
    this.closedSignal?.resolve();
  }

  /** Runs once, as the session enters `closed` from `previous`. */
  private teardown(previous: SessionState): void {
    clearTimeout(this.connectDeadline);
    this.connectDeadline = undefined;
    this.heartbeat?.stop();
    this.heartbeat = undefined;
    this.expiry?.cancel();
    this.expiry = undefined;
    this.inbox = undefined;
    this.protocol.teardown();
    const established = isEstablished(previous);
    if (established) {
      this.deps.metrics.sessions.dec({ transport: this.transportKind });
      this.deps.lifecycle.disconnected(this);
    }
    const error = this.endedBy;
    if (this.debugging) {
      this.logger.debug(
        { user: this._principal?.name ?? null, connected: established, ...(error ? { code: error.code, reason: error.message } : {}) },
        'session ended',
      );
    }
  }

  // --- SessionIo: the narrow view SessionProtocol gets of this session ---

  /** @internal SessionIo */
  get session(): StompSession {
    return this;
  }

  /** @internal SessionIo: true until the session closed. */
  get open(): boolean {
    return this._state !== 'closed';
  }

  /** @internal SessionIo: CONNECT arrived. */
  connecting(): void {
    this._state = 'connecting';
  }

  /** @internal SessionIo: DISCONNECT arrived; later frames are ignored. */
  draining(): void {
    this._state = 'draining';
  }

  /** @internal SessionIo */
  get textOnly(): boolean {
    return this.transport.textOnly;
  }

  /** @internal SessionIo */
  sendFrame(frame: StompFrame): void {
    this.send(frame);
  }

  /** @internal SessionIo */
  sendMessage(bytes: Buffer, binary: boolean): void {
    this.write(bytes, binary, 'MESSAGE');
  }

  /** @internal SessionIo: ends the session without an ERROR (after DISCONNECT). */
  finish(): void {
    this.end(undefined, undefined);
  }

  // --- HeartbeatTarget ---

  /** @internal HeartbeatTarget */
  sendHeartbeat(): void {
    this.write(HEARTBEAT_EOL, false, undefined);
  }

  /** @internal HeartbeatTarget */
  heartbeatTimedOut(silentMs: number): void {
    this.heartbeat = undefined;
    this.end(relayError(Errors.HEARTBEAT_TIMEOUT, silentMs), undefined);
  }

  /** @internal SessionIo: CONNECT succeeded (see SessionIo.established). */
  established(version: StompVersion, plan: HeartbeatPlan, principal: Principal | null, connected: StompFrame): void {
    this._version = version;
    if (this.parser !== undefined) this.parser.version = version;
    this._principal = principal;
    if (!this.send(connected)) return; // closed as a slow consumer already, never counted as connected
    this._state = 'connected';
    this.deps.metrics.sessions.inc({ transport: this.transportKind });
    // Presence, the user index and session events learn of the session once CONNECTED is written,
    // before anything else can end it: `closed` from here on reports the disconnect.
    this.deps.lifecycle.connected(this);
    if (this.isClosed()) return; // a listener ended it
    clearTimeout(this.connectDeadline);
    this.connectDeadline = undefined;
    // The handshake's headers served authentication, which is done; nothing reads them later, and
    // letting go of them frees the upgrade request's header table (about 0.5 KB per session).
    this.transport.handshake.headers = RELEASED_HEADERS;
    this.heartbeat = this.deps.heartbeats.start(this, plan.sendMs, plan.receiveMs, this.deps.config.heartbeat.graceFactor);
    const expiresAt = principal?.expiresAt;
    if (expiresAt !== undefined) {
      // The credential is checked once, at CONNECT; past its expiry the session must not go on.
      this.expiry = this.deps.expiries.add(expiresAt, () => {
        this.expiry = undefined;
        this.end(relayError(Errors.TOKEN_EXPIRED, new Date(expiresAt).toISOString()), undefined);
      });
    }
    if (this.debugging)
      this.logger.debug({ user: principal?.name ?? null, version, heartbeat: `${plan.sendMs},${plan.receiveMs}` }, 'session connected');
  }
}

/** Frames waiting for an earlier one to finish (see "Inbound"), with their size on the wire. */
class Inbox {
  readonly frames: Array<{ frame: StompFrame; bytes: number }> = [];
  /** Index of the next frame to run. */
  head = 0;
  /** Bytes of the frames still waiting. */
  bytes = 0;
}

/** {@link StompSession.closed}'s promise and what resolves it, in one field of the session. */
class ClosedSignal {
  resolve!: () => void;
  readonly promise = new Promise<void>((resolve) => {
    this.resolve = resolve;
  });
}
