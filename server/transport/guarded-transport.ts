/**
 * The seam between a session and its transport adapter, made safe in one place. Adapters wrap
 * libraries that throw (faye-websocket, under SockJS's raw WebSocket endpoint, throws from close()
 * for codes it does not accept; a socket torn down under us throws from write()); a throw that
 * escaped into the session would end up in a promise chain or an event handler and take the process
 * down, or leave the socket open with the session half torn down.
 *
 * So every call goes through {@link GuardedTransport}: a throw from `send` or `close` is reported,
 * the connection is destroyed (no flush: it is beyond use), and the session is told the transport
 * closed, at once and exactly once, whether or not the adapter ever reports it.
 */
import type { HandshakeInfo, Transport, TransportEvents, TransportKind } from './transport';

/** Which call threw. */
export type TransportOperation = 'send' | 'close' | 'destroy' | 'bufferedAmount';

/** Wraps one transport; see the module comment. */
export class GuardedTransport implements Transport {
  readonly kind: TransportKind;
  readonly textOnly: boolean;
  private events: TransportEvents | null = null;
  /** The session heard `close` (from the adapter or from us); later reports are dropped. */
  private closeReported = false;
  /** A call threw: the connection is destroyed and nothing more goes to the adapter. */
  private broken = false;

  /** @param onFault told of each throw, for the log; must not throw itself. */
  constructor(
    private readonly inner: Transport,
    private readonly onFault: (operation: TransportOperation, err: unknown) => void,
  ) {
    this.kind = inner.kind;
    this.textOnly = inner.textOnly;
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

  bind(events: TransportEvents): void {
    this.events = events;
    this.inner.bind(new GuardedEvents(this, events));
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
      this.onFault('destroy', err);
    }
    this.reportClose();
  }

  private fault(operation: TransportOperation, err: unknown): void {
    this.onFault(operation, err);
    this.destroy();
  }

  /** @internal */
  reportClose(): void {
    if (this.closeReported) return;
    this.closeReported = true;
    this.events?.close();
  }
}

/**
 * What the adapter reports, passed on to the session until it heard `close`. A class rather than
 * an object of closures: one small object per connection (an idle connection should cost little).
 */
class GuardedEvents implements TransportEvents {
  constructor(
    private readonly guard: GuardedTransport,
    private readonly events: TransportEvents,
  ) {}

  data(chunk: Buffer): void {
    if (!this.guard.closeWasReported) this.events.data(chunk);
  }

  messageTooLarge(limitBytes: number): void {
    if (!this.guard.closeWasReported) this.events.messageTooLarge(limitBytes);
  }

  close(): void {
    this.guard.reportClose();
  }
}
