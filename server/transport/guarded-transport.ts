/**
 * The seam between a session and its transport adapter, made safe in one place. Adapters wrap
 * libraries that throw (ws throws from close() for a code or reason it does not accept; a socket
 * torn down under us throws from write()); a throw that
 * escaped into the session would end up in a promise chain or an event handler and take the process
 * down, or leave the socket open with the session half torn down.
 *
 * So every call goes through {@link GuardedTransport}: a throw from `send` or `close` is reported,
 * the connection is destroyed (no flush: it is beyond use), and the session is told the transport
 * closed, at once and exactly once, whether or not the adapter ever reports it.
 */
import { HEARTBEAT_EOL } from '../codec/serializer';
import type { HandshakeInfo, Transport, TransportEvents, TransportKind } from './transport';

/** Which call threw. */
export type TransportOperation = 'send' | 'close' | 'destroy' | 'bufferedAmount';

/**
 * Who a {@link GuardedTransport} reports to (the session): the adapter's {@link TransportEvents}
 * under names of their own, and each throw. Methods of one object rather than closures: an idle
 * connection should cost little.
 */
export interface GuardedTransportOwner {
  /** {@link TransportEvents.data}. */
  transportData(chunk: Buffer): void;
  /** {@link TransportEvents.messageTooLarge}. */
  transportMessageTooLarge(limitBytes: number): void;
  /** {@link TransportEvents.close}: the connection ended, from the adapter or from the guard. Called once. */
  transportEnded(): void;
  /** A call into the adapter threw (for the log); must not throw itself. */
  transportFault(operation: TransportOperation, err: unknown): void;
}

/**
 * Wraps one transport; see the module comment. It has what {@link Transport} has, except that its
 * events go to the {@link GuardedTransportOwner} it was made for, once {@link bind} is called.
 */
export class GuardedTransport implements Omit<Transport, 'bind'> {
  /** {@link bind} was called: the adapter's events go to the owner (before it they are the adapter's to hold: none are lost). */
  private bound = false;
  /** The session heard `close` (from the adapter or from us); later reports are dropped. */
  private closeReported = false;
  /** A call threw: the connection is destroyed and nothing more goes to the adapter. */
  private broken = false;

  /**
   * @param owner told of each throw, for the log, and (from {@link bind} on) of the adapter's events.
   *   The adapter's own fields (kind, textOnly, handshake) are read through, not copied: an idle
   *   connection should cost little.
   */
  constructor(
    private readonly inner: Transport,
    /** @internal GuardedEvents */
    readonly owner: GuardedTransportOwner,
  ) {}

  get kind(): TransportKind {
    return this.inner.kind;
  }

  get textOnly(): boolean {
    return this.inner.textOnly;
  }

  get handshake(): HandshakeInfo {
    return this.inner.handshake;
  }

  get bufferedAmount(): number {
    if (this.broken) return 0;
    try {
      return this.inner.bufferedAmount;
    } catch (err) {
      this.fault('bufferedAmount', err);
      return 0;
    }
  }

  /** `bufferedAmount > limitBytes`, through the adapter's cheaper answer when it has one (see {@link Transport.bufferedAmountAbove}). */
  bufferedAmountAbove(limitBytes: number): boolean {
    if (this.broken) return false;
    try {
      const inner = this.inner;
      return inner.bufferedAmountAbove !== undefined ? inner.bufferedAmountAbove(limitBytes) : inner.bufferedAmount > limitBytes;
    } catch (err) {
      this.fault('bufferedAmount', err);
      return false;
    }
  }

  /** Starts passing the adapter's events to the owner (an adapter closed already reports it now). */
  bind(): void {
    this.bound = true;
    this.inner.bind(new GuardedEvents(this));
  }

  /** @internal GuardedEvents: whether the session already heard `close` (later events are dropped). */
  get closeWasReported(): boolean {
    return this.closeReported;
  }

  send(data: Buffer, binary: boolean): void {
    if (this.broken) return;
    try {
      this.inner.send(data, binary);
    } catch (err) {
      this.fault('send', err);
    }
  }

  /** {@link Transport.sendHeartbeat}, or `send(EOL)` for an adapter without it. */
  sendHeartbeat(): void {
    if (this.broken) return;
    try {
      if (this.inner.sendHeartbeat !== undefined) this.inner.sendHeartbeat();
      else this.inner.send(HEARTBEAT_EOL, false);
    } catch (err) {
      this.fault('send', err);
    }
  }

  close(code?: number, reason?: string): void {
    if (this.broken) return;
    try {
      this.inner.close(code, reason);
    } catch (err) {
      this.fault('close', err);
    }
  }

  destroy(): void {
    if (this.broken) return;
    this.broken = true;
    try {
      this.inner.destroy();
    } catch (err) {
      this.owner.transportFault('destroy', err);
    }
    this.reportClose();
  }

  private fault(operation: TransportOperation, err: unknown): void {
    this.owner.transportFault(operation, err);
    this.destroy();
  }

  /** @internal */
  reportClose(): void {
    if (this.closeReported) return;
    this.closeReported = true;
    if (this.bound) this.owner.transportEnded();
  }
}

/**
 * What the adapter reports, passed on to the session until it heard `close`. A class rather than
 * an object of closures: one small object per connection (an idle connection should cost little).
 */
class GuardedEvents implements TransportEvents {
  constructor(private readonly guard: GuardedTransport) {}

  data(chunk: Buffer): void {
    const guard = this.guard;
    if (!guard.closeWasReported) guard.owner.transportData(chunk);
  }

  messageTooLarge(limitBytes: number): void {
    const guard = this.guard;
    if (!guard.closeWasReported) guard.owner.transportMessageTooLarge(limitBytes);
  }

  close(): void {
    this.guard.reportClose();
  }
}
