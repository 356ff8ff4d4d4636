/**
 * The heart-beat clocks of every session of a hub, on one timer: a hashed timer wheel.
 * Per session, once CONNECT negotiated them:
 * - outgoing: if nothing was sent for `sendMs`, send an EOL;
 * - incoming: if nothing arrived for `receiveMs × graceFactor`, the client is gone (HEARTBEAT_TIMEOUT).
 *
 * Why a wheel: two `setTimeout`s per session (a Timeout, its callback and their closures each) cost
 * ~0.6 KB per idle session; an entry in the wheel is one small object. The session records one
 * timestamp per send and per receive (no timer work on the hot path); the wheel looks at a session
 * only when its next deadline comes, and re-files it for exactly the time left.
 *
 * A send is stamped with the wheel's coarse clock, the time its last tick ran (or the last clock
 * started), not with a clock read: writes are the fan-out's hot path and `performance.now()` per
 * MESSAGE was 2.3 % of the relay's CPU. That stamp is never after the real send, so it can only
 * make an EOL earlier. A receive is stamped with the real time: a stamp before the real receive
 * would make a silent client look silent for longer, and close it early.
 *
 * Resolution: the wheel ticks every `tickMs` (a tenth of the finest interval a session may get,
 * at most 100 ms). An EOL goes out up to one tick early, plus the age of the last send's coarse
 * stamp (under one tick while the timer keeps time), never late (early is harmless, late could
 * trip the client's own check); a silent client is closed no earlier than its grace period, at most
 * one tick after it.
 *
 * One wheel per session hub, never module-global. The timer is unref'd and runs only while some
 * session has a clock.
 */
import { performance } from 'node:perf_hooks';

/** What a clock calls on its session. */
export interface HeartbeatTarget {
  /** Send one heart-beat EOL. */
  sendHeartbeat(): void;
  /** The client was silent for `silentMs` (more than the grace period). */
  heartbeatTimedOut(silentMs: number): void;
}

/** Time and timers, replaceable in tests. */
export interface WheelClock {
  /** Milliseconds, monotonic (performance.now()). */
  now(): number;
  setInterval(callback: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

const REAL_CLOCK: WheelClock = {
  now: () => performance.now(),
  setInterval: (callback, ms) => setInterval(callback, ms).unref(),
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
};

/** Slots of the wheel (a power of two). A deadline further away than a turn waits for later turns. */
const SLOTS = 1024;

/** One session's two clocks: an entry of the wheel (an intrusive list node of its slot). */
export class HeartbeatClock {
  /** @internal */ lastSentAt: number;
  /** @internal */ lastReceivedAt: number;
  /** @internal tick at which the wheel looks at this clock next; -1 once stopped. */
  dueTick = -1;
  /** @internal */ prev: HeartbeatClock | null = null;
  /** @internal */ next: HeartbeatClock | null = null;

  /** @internal use {@link HeartbeatWheel.start} */
  constructor(
    private readonly wheel: HeartbeatWheel,
    /** @internal */ readonly target: HeartbeatTarget,
    /** @internal */ readonly sendMs: number,
    /** @internal */ readonly receiveLimitMs: number,
    now: number,
  ) {
    this.lastSentAt = now;
    this.lastReceivedAt = now;
  }

  /** Call on every outgoing write: stamps it with the wheel's coarse clock (see the file comment). */
  noteSent(): void {
    this.lastSentAt = this.wheel.coarseNow;
  }

  /** Call on every incoming chunk, heart-beat or frame. */
  noteReceived(): void {
    this.lastReceivedAt = this.wheel.now();
  }

  /** Stops both clocks. Idempotent. */
  stop(): void {
    this.wheel.remove(this);
  }
}

export interface HeartbeatWheelOptions {
  /**
   * The finest interval any session may get (ms): the tick is a tenth of it, 1 to 100 ms.
   * Default 1000.
   */
  finestIntervalMs?: number;
  /** Default: performance.now() and unref'd setInterval. */
  clock?: WheelClock;
  /** Called with what a session's callback threw; the other clocks still run. */
  onError?(err: unknown): void;
}

export class HeartbeatWheel {
  readonly tickMs: number;
  private readonly clock: WheelClock;
  private readonly onError: (err: unknown) => void;
  private readonly slots: Array<HeartbeatClock | null> = new Array<HeartbeatClock | null>(SLOTS).fill(null);
  private size = 0;
  private timer: unknown;
  /** Last tick whose slot was processed. */
  private processedTick = 0;
  /**
   * @internal The time the wheel last read its clock: when its last tick ran or a clock started.
   * Never after the real time; what {@link HeartbeatClock.noteSent} stamps.
   */
  coarseNow = 0;

  constructor(options: HeartbeatWheelOptions = {}) {
    this.tickMs = Math.max(1, Math.min(100, Math.floor((options.finestIntervalMs ?? 1_000) / 10)));
    this.clock = options.clock ?? REAL_CLOCK;
    this.onError = options.onError ?? (() => undefined);
  }

  /** Clocks running. */
  get running(): number {
    return this.size;
  }

  /** @internal */
  now(): number {
    return this.clock.now();
  }

  /**
   * Starts a session's clocks (`sendMs` / `receiveMs` 0: that direction is off; both 0: no clock).
   * `receiveMs × graceFactor` of silence ends it.
   */
  start(target: HeartbeatTarget, sendMs: number, receiveMs: number, graceFactor: number): HeartbeatClock | undefined {
    const receiveLimitMs = receiveMs * graceFactor;
    if (!(sendMs > 0) && !(receiveLimitMs > 0)) return undefined;
    const now = this.clock.now();
    this.coarseNow = now;
    if (this.size === 0) {
      this.processedTick = this.tickOf(now);
      this.timer = this.clock.setInterval(() => this.advance(), this.tickMs);
    }
    this.size++;
    const clock = new HeartbeatClock(this, target, sendMs, receiveLimitMs, now);
    this.file(clock);
    return clock;
  }

  /** @internal */
  remove(clock: HeartbeatClock): void {
    if (clock.dueTick < 0) return;
    this.unlink(clock);
    clock.dueTick = -1;
    if (--this.size === 0) {
      this.clock.clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Runs every slot from the last processed tick to now (ticks a late timer skipped included). */
  private advance(): void {
    const now = this.clock.now();
    this.coarseNow = now;
    const nowTick = this.tickOf(now);
    // Past a whole turn, every slot is looked at once: all that is due gets handled.
    const from = Math.max(this.processedTick + 1, nowTick - SLOTS + 1);
    for (let tick = from; tick <= nowTick; tick++) {
      // Set first: a clock re-filed while its slot runs goes to a later tick, never this one.
      this.processedTick = tick;
      if (this.size > 0) this.runSlot(tick & (SLOTS - 1), nowTick);
    }
    this.processedTick = nowTick;
  }

  private runSlot(slot: number, nowTick: number): void {
    let clock = this.slots[slot];
    while (clock !== null) {
      const next = clock.next;
      if (clock.dueTick <= nowTick) {
        this.unlink(clock);
        try {
          this.check(clock);
        } catch (err) {
          this.onError(err);
        }
        // Still running (not stopped by its own callback): file it for its next deadline.
        if (clock.dueTick >= 0) this.file(clock);
        // A callback that stopped the next clock too (it left this list): start the slot over.
        // Clocks already run were filed at least a turn away from this slot's tick, so they are skipped.
        if (next !== null && next.dueTick < 0) {
          clock = this.slots[slot] ?? null;
          continue;
        }
      }
      clock = next;
    }
  }

  /** A clock's deadline came (or it moved on since: then nothing is due yet). */
  private check(clock: HeartbeatClock): void {
    const now = this.clock.now();
    if (clock.receiveLimitMs > 0) {
      const silent = now - clock.lastReceivedAt;
      if (silent >= clock.receiveLimitMs) {
        this.remove(clock);
        clock.target.heartbeatTimedOut(Math.round(silent));
        return;
      }
    }
    // Up to one tick early, never late (see the file comment).
    if (clock.sendMs > 0 && now - clock.lastSentAt >= clock.sendMs - this.tickMs) {
      clock.lastSentAt = now;
      clock.target.sendHeartbeat();
    }
  }

  /** Puts a running clock in the slot of its next deadline. */
  private file(clock: HeartbeatClock): void {
    let due = Infinity;
    // The EOL is checked on the tick at or before it is due; the silence limit on the tick after.
    if (clock.sendMs > 0) due = Math.floor((clock.lastSentAt + clock.sendMs) / this.tickMs);
    if (clock.receiveLimitMs > 0) due = Math.min(due, Math.ceil((clock.lastReceivedAt + clock.receiveLimitMs) / this.tickMs));
    // Never in the past or the slot being run: the next tick at the earliest.
    clock.dueTick = Math.max(due, this.processedTick + 1);
    const slot = clock.dueTick & (SLOTS - 1);
    const head = this.slots[slot] ?? null;
    clock.prev = null;
    clock.next = head;
    if (head !== null) head.prev = clock;
    this.slots[slot] = clock;
  }

  private unlink(clock: HeartbeatClock): void {
    const slot = clock.dueTick & (SLOTS - 1);
    if (clock.prev !== null) clock.prev.next = clock.next;
    else if (this.slots[slot] === clock) this.slots[slot] = clock.next;
    if (clock.next !== null) clock.next.prev = clock.prev;
    clock.prev = clock.next = null;
  }

  private tickOf(ms: number): number {
    return Math.floor(ms / this.tickMs);
  }
}
