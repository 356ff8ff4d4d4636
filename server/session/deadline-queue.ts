/**
 * Deadlines of many sessions on one timer: a binary min-heap ordered by due time, and a single
 * timer armed for the earliest entry. Adding or cancelling costs O(log n) and re-arms the timer only
 * when the earliest deadline changed; n sessions with an expiring token cost one timer, not n.
 *
 * Used for token expiry (a session ends when the JWT that authenticated it expires). One queue per
 * session hub, never module-global. The timer is unref'd: pending deadlines never keep the process
 * alive.
 */

/** Time and timers, replaceable in tests. */
export interface DeadlineClock {
  /** Milliseconds since the epoch (the unit of JWT `exp` × 1000). */
  now(): number;
  setTimer(callback: () => void, delayMs: number): unknown;
  clearTimer(handle: unknown): void;
}

/** A scheduled callback. */
export interface Deadline {
  /** Removes it; it will not run. Idempotent, harmless after it ran. */
  cancel(): void;
}

export interface DeadlineQueueOptions {
  /** Default: `Date.now` and unref'd `setTimeout`. */
  clock?: DeadlineClock;
  /** Called with what a callback threw; the other due callbacks still run. */
  onError?(err: unknown): void;
}

/** Longest delay `setTimeout` takes (2³¹ − 1 ms, ~24.8 days); later deadlines are waited for in steps. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

const REAL_CLOCK: DeadlineClock = {
  now: () => Date.now(),
  setTimer: (callback, delayMs) => setTimeout(callback, delayMs).unref(),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

interface Entry {
  at: number;
  due: () => void;
  /** Position in the heap; -1 once removed. */
  index: number;
}

export class DeadlineQueue {
  private readonly heap: Entry[] = [];
  private readonly clock: DeadlineClock;
  private readonly onError: (err: unknown) => void;
  private timer: unknown;
  /** Due time the timer is armed for (undefined: no timer). */
  private armedFor: number | undefined;
  /** Set while due callbacks run: the timer is armed once, after them. */
  private firing = false;

  constructor(options: DeadlineQueueOptions = {}) {
    this.clock = options.clock ?? REAL_CLOCK;
    this.onError = options.onError ?? (() => undefined);
  }

  /** Deadlines waiting. */
  get size(): number {
    return this.heap.length;
  }

  /**
   * Runs `due` once `at` (ms since the epoch) has passed, from a timer callback (never inside
   * `add`, even for a time already past).
   */
  add(at: number, due: () => void): Deadline {
    const entry: Entry = { at, due, index: this.heap.length };
    this.heap.push(entry);
    this.up(entry.index);
    this.arm();
    return { cancel: () => this.remove(entry) };
  }

  /** Cancels every deadline. */
  clear(): void {
    for (const entry of this.heap) entry.index = -1;
    this.heap.length = 0;
    this.arm();
  }

  private remove(entry: Entry): void {
    const i = entry.index;
    if (i < 0) return;
    entry.index = -1;
    const last = this.heap.pop()!;
    if (last !== entry) {
      this.heap[i] = last;
      last.index = i;
      this.down(i);
      this.up(last.index);
    }
    this.arm();
  }

  /** Keeps the timer armed for the earliest deadline, and only then. */
  private arm(): void {
    if (this.firing) return;
    const next = this.heap[0]?.at;
    if (next === this.armedFor) return;
    if (this.armedFor !== undefined) this.clock.clearTimer(this.timer);
    this.armedFor = next;
    this.timer = undefined;
    if (next === undefined) return;
    const delay = Math.min(MAX_TIMER_DELAY_MS, Math.max(0, next - this.clock.now()));
    this.timer = this.clock.setTimer(() => this.fire(), delay);
  }

  private fire(): void {
    this.armedFor = undefined;
    this.timer = undefined;
    const now = this.clock.now();
    this.firing = true;
    try {
      while (this.heap.length > 0 && this.heap[0].at <= now) {
        const entry = this.heap[0];
        this.remove(entry);
        try {
          entry.due();
        } catch (err) {
          this.onError(err);
        }
      }
    } finally {
      this.firing = false;
    }
    this.arm();
  }

  private up(i: number): void {
    const heap = this.heap;
    const entry = heap[i];
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent].at <= entry.at) break;
      heap[i] = heap[parent];
      heap[i].index = i;
      i = parent;
    }
    heap[i] = entry;
    entry.index = i;
  }

  private down(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const entry = heap[i];
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && heap[right].at < heap[left].at ? right : left;
      if (heap[child].at >= entry.at) break;
      heap[i] = heap[child];
      heap[i].index = i;
      i = child;
    }
    heap[i] = entry;
    entry.index = i;
  }
}
