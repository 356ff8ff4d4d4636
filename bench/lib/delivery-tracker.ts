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

  /** Records a message body (bytes, or Socket.IO's text) for `subscriber` that arrived at `nowMs` (performance.now()). */
  onMessage(subscriber: number, body: Buffer | string, nowMs: number): void {
    const stamp = readStamp(body);
    if (!stamp || stamp.seq < this.base || stamp.seq >= this.base + this.count) {
      this.stray++;
      return;
    }
    const slot = subscriber * this.count + (stamp.seq - this.base);
    if (this.seen[slot]) {
      this.duplicates++;
      return;
    }
    this.seen[slot] = 1;
    if (this.perSubscriber[subscriber]++ === 0) this.reachedSubscribers++;
    this.delivered++;
    this.latency.record(nowMs - stamp.sentAtMs);
    if (this.delivered === 1) this.firstDeliveryAt = nowMs;
    this.lastDeliveryAt = nowMs;
  }
}
