/**
 * Timers that all wait the same delay, on one interval timer: a FIFO of entries, each due `delayMs`
 * after it was added. With one delay for every entry, the order of adding is the order of
 * expiring, so the queue is an intrusive doubly linked list (add and remove O(1)) and a tick pops
 * from its head until the head is not due yet.
 *
 * Why: SockJS's WebSocket transport pings every session every 25 s and gives each ping 10 s for its
 * pong; sockjs-node does it with a `setTimeout` and a closure per session and per ping. Here an
 * entry is one small object per session and wait, reused for every wait.
 *
 * Resolution: the timer ticks every tenth of the delay (1 ms to 1 s) while some entry waits, so an
 * entry fires up to one tick late, never early. One queue per owner (an endpoint), never
 * module-global; the timer is unref'd.
 */
import { performance } from 'node:perf_hooks';

/** One thing's place in a {@link FixedDelayQueue}; reused for each of its waits. */
export class DelayEntry<T> {
  /** @internal when it is due (ms, performance.now()); -1 while not queued. */
  dueAt = -1;
  /** @internal */ prev: DelayEntry<T> | null = null;
  /** @internal */ next: DelayEntry<T> | null = null;

  constructor(readonly owner: T) {}

  /** Whether it waits in a queue. */
  get queued(): boolean {
    return this.dueAt >= 0;
  }
}

export class FixedDelayQueue<T> {
  private head: DelayEntry<T> | null = null;
  private tail: DelayEntry<T> | null = null;
  private timer: NodeJS.Timeout | undefined;
  private readonly tickMs: number;

  /**
   * @param delayMs how long every entry waits.
   * @param due called with the owner of each entry whose wait ended (the entry is out of the queue
   *   by then, and may be added again from the call).
   * @param onError what a `due` call threw; the other entries still fire.
   */
  constructor(
    readonly delayMs: number,
    private readonly due: (owner: T) => void,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {
    this.tickMs = Math.max(1, Math.min(1_000, Math.floor(delayMs / 10)));
  }

  /** Starts the entry's wait from now (from the start again if it was waiting). */
  add(entry: DelayEntry<T>): void {
    if (entry.queued) this.unlink(entry);
    entry.dueAt = performance.now() + this.delayMs;
    entry.prev = this.tail;
    entry.next = null;
    if (this.tail !== null) this.tail.next = entry;
    else this.head = entry;
    this.tail = entry;
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.tick(), this.tickMs);
      this.timer.unref();
    }
  }

  /** Ends the entry's wait without firing it. Idempotent. */
  remove(entry: DelayEntry<T>): void {
    if (!entry.queued) return;
    this.unlink(entry);
    if (this.head === null) this.stopTimer();
  }

  private tick(): void {
    const now = performance.now();
    // Entries added from a `due` call are due a whole delay later: the loop never reaches them.
    while (this.head !== null && this.head.dueAt <= now) {
      const entry = this.head;
      this.unlink(entry);
      try {
        this.due(entry.owner);
      } catch (err) {
        this.onError(err);
      }
    }
    if (this.head === null) this.stopTimer();
  }

  private unlink(entry: DelayEntry<T>): void {
    if (entry.prev !== null) entry.prev.next = entry.next;
    else this.head = entry.next;
    if (entry.next !== null) entry.next.prev = entry.prev;
    else this.tail = entry.prev;
    entry.prev = entry.next = null;
    entry.dueAt = -1;
  }

  private stopTimer(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
