/**
 * Counts what a fan-out run delivered: per subscriber, which of the `count` messages numbered
 * `base..base+count-1` arrived, how late, and how many came twice. Messages outside the range
 * (warm-up, or stragglers of an earlier scenario) are counted as stray and otherwise ignored.
 */
import { LatencyRecorder, readStamp } from './stats';

export class DeliveryTracker {
  readonly latency: LatencyRecorder;
  delivered = 0;
  duplicates = 0;
  stray = 0;
  /** performance.now() of the first and last counted delivery (NaN before any). */
  firstDeliveryAt = NaN;
  lastDeliveryAt = NaN;
  /** One byte per (subscriber, message): bounded by the run's budget, no per-message allocation. */
  private readonly seen: Uint8Array;
  private readonly perSubscriber: Uint32Array;
  private reachedSubscribers = 0;

  constructor(readonly subscribers: number, readonly base: number, readonly count: number) {
    this.seen = new Uint8Array(subscribers * count);
    this.perSubscriber = new Uint32Array(subscribers);
    this.latency = new LatencyRecorder(subscribers * count);
  }

  /** Deliveries the run should see: every subscriber gets every message. */
  get expected(): number {
    return this.subscribers * this.count;
  }

  /** Expected deliveries that did not arrive (so far). */
  get lost(): number {
    return this.expected - this.delivered;
  }

  /** Subscribers that got at least one message of the range. */
  get subscribersReached(): number {
    return this.reachedSubscribers;
  }

  complete(): boolean {
    return this.delivered >= this.expected;
  }

  /**
   * Records a message body (bytes, or Socket.IO's text) for `subscriber` that arrived at `nowMs`
   * (stampClockMs of ./stats); the stamp is read from `from` on (where the body starts in `body`).
   */
  onMessage(subscriber: number, body: Buffer | string, nowMs: number, from = 0): void {
    const stamp = readStamp(body, from);
    if (!stamp) {
      this.stray++;
      return;
    }
    this.onStamp(subscriber, stamp.seq, stamp.sentAtMs, nowMs);
  }

  /** Records message `seq`, stamped at `sentAtMs`, for `subscriber`, arrived at `nowMs`. */
  onStamp(subscriber: number, seq: number, sentAtMs: number, nowMs: number): void {
    if (seq < this.base || seq >= this.base + this.count) {
      this.stray++;
      return;
    }
    const slot = subscriber * this.count + (seq - this.base);
    if (this.seen[slot]) {
      this.duplicates++;
      return;
    }
    this.seen[slot] = 1;
    if (this.perSubscriber[subscriber]++ === 0) this.reachedSubscribers++;
    this.delivered++;
    this.latency.record(nowMs - sentAtMs);
    if (this.delivered === 1) this.firstDeliveryAt = nowMs;
    this.lastDeliveryAt = nowMs;
  }

  /** The counts so far (what a load process reports to its parent). */
  counts(): DeliveryCounts {
    return {
      delivered: this.delivered, duplicates: this.duplicates, stray: this.stray, subscribersReached: this.reachedSubscribers,
      firstDeliveryAt: this.firstDeliveryAt, lastDeliveryAt: this.lastDeliveryAt,
    };
  }
}

/** What a {@link DeliveryTracker} counted, or several summed ({@link sumDeliveryCounts}). */
export interface DeliveryCounts {
  delivered: number;
  duplicates: number;
  stray: number;
  subscribersReached: number;
  /** Clock of stampClockMs (./stats); NaN before any delivery. */
  firstDeliveryAt: number;
  lastDeliveryAt: number;
}

/** Sums the counts of trackers over disjoint sets of subscribers (times: earliest first, latest last). */
export function sumDeliveryCounts(parts: DeliveryCounts[]): DeliveryCounts {
  const finite = (xs: number[]): number[] => xs.filter((x) => Number.isFinite(x));
  const firsts = finite(parts.map((p) => p.firstDeliveryAt));
  const lasts = finite(parts.map((p) => p.lastDeliveryAt));
  const sum = (key: 'delivered' | 'duplicates' | 'stray' | 'subscribersReached'): number => parts.reduce((n, p) => n + p[key], 0);
  return {
    delivered: sum('delivered'), duplicates: sum('duplicates'), stray: sum('stray'), subscribersReached: sum('subscribersReached'),
    firstDeliveryAt: firsts.length > 0 ? Math.min(...firsts) : NaN,
    lastDeliveryAt: lasts.length > 0 ? Math.max(...lasts) : NaN,
  };
}
