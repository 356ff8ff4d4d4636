/** Latency samples and percentiles for load scripts. */

/**
 * Latency samples in milliseconds, in a preallocated typed array: bounded memory (the capacity is
 * the run's message budget) and no per-sample allocation on the receive path. Samples past the
 * capacity are counted but not stored.
 */
export class LatencyRecorder {
  private readonly samples: Float64Array;
  private stored = 0;
  /** Every sample offered, stored or not. */
  count = 0;

  constructor(capacity: number) {
    this.samples = new Float64Array(Math.max(1, capacity));
  }

  record(ms: number): void {
    this.count++;
    if (this.stored < this.samples.length) this.samples[this.stored++] = ms;
  }

  /** A copy of the stored samples (e.g. to send a load process's samples to its parent). */
  storedSamples(): Float64Array {
    return this.samples.slice(0, this.stored);
  }

  /** Records samples another recorder stored, and counts `offered` samples in all (stored or not). */
  recordAll(samples: ArrayLike<number>, offered = samples.length): void {
    for (let i = 0; i < samples.length; i++) {
      if (this.stored < this.samples.length) this.samples[this.stored++] = samples[i]!;
    }
    this.count += offered;
  }

  /** p50/p99/max of what was stored (NaN when empty). */
  summary(): LatencySummary {
    const sorted = this.samples.slice(0, this.stored).sort();
    return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.length ? sorted[sorted.length - 1]! : NaN, samples: sorted.length };
  }
}

export interface LatencySummary {
  p50: number;
  p99: number;
  max: number;
  samples: number;
}

/**
 * Nearest-rank percentile of an ascending array (`p` in 0..100): the smallest sample with at least
 * p % of the samples at or below it. NaN for an empty array.
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  if (p <= 0) return sorted[0]!;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

/**
 * The clock of publish stamps and delivery times, in ms: wall-clock based (performance.timeOrigin +
 * performance.now()), so a stamp taken in the publishing process can be read in a receiving
 * process on the same machine. Within a process it is as steady as performance.now().
 */
export function stampClockMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Writes `seq` and `sentAtMs` (performance.now() of the publishing process) into a body of exactly
 * `size` bytes: `<seq>:<sentAt µs>;` then `x` padding. ASCII only, so any transport carries it.
 */
export function stampBody(seq: number, sentAtMs: number, size: number): Buffer {
  const stamp = `${seq}:${Math.round(sentAtMs * 1000)};`;
  const body = Buffer.alloc(Math.max(size, stamp.length), 0x78);
  body.write(stamp, 0, 'latin1');
  return body;
}

/** What {@link readStamp} found in a body. */
export interface Stamp {
  seq: number;
  sentAtMs: number;
}

/**
 * Reads the stamp {@link stampBody} wrote, starting at `from` (e.g. where a frame's body starts in
 * a whole WebSocket message) and skipping leading non-digits (a JSON string's quote). Returns
 * undefined for a body that carries none. Takes the bytes, or the text a Socket.IO client received
 * (the stamp is ASCII). Character loop: no copy, no regex per message.
 */
export function readStamp(body: Buffer | string, from = 0): Stamp | undefined {
  const code = typeof body === 'string' ? (i: number) => body.charCodeAt(i) : (i: number) => body[i]!;
  const n = body.length;
  let i = from;
  while (i < n && (code(i) < 0x30 || code(i) > 0x39)) i++;
  const start = i;
  let seq = 0;
  for (; i < n && code(i) >= 0x30 && code(i) <= 0x39; i++) seq = seq * 10 + (code(i) - 0x30);
  if (i === start || i >= n || code(i) !== 0x3a /* : */) return undefined;
  i++;
  const micros = i;
  let sentAtUs = 0;
  for (; i < n && code(i) >= 0x30 && code(i) <= 0x39; i++) sentAtUs = sentAtUs * 10 + (code(i) - 0x30);
  if (i === micros || i >= n || code(i) !== 0x3b /* ; */) return undefined;
  return { seq, sentAtMs: sentAtUs / 1000 };
}
