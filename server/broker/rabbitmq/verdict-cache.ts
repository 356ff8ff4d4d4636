/**
 * What the probe connection found out, remembered for a while so that only the first use of a
 * risky destination pays a probe: later ones cost one Map lookup. Bounded: past `maxEntries` the
 * oldest entries go first (Map keeps insertion order), so a client inventing destinations cannot
 * grow it without limit.
 */
import type { RelayError } from '../../errors';

export interface VerdictCacheOptions {
  /** How long a verified request stays verified. */
  okTtlMs: number;
  /** How long a refusal is remembered (short: the queue or exchange may be created soon). */
  refusedTtlMs: number;
  maxEntries: number;
  /** Clock, replaceable in unit tests. */
  now?: () => number;
}

/** `undefined`: not known; `null`: verified; a RelayError: RabbitMQ refused it. */
export type Verdict = null | RelayError;

interface Entry {
  verdict: Verdict;
  expiresAt: number;
}

export class VerdictCache {
  private readonly entries = new Map<string, Entry>();
  private readonly options: VerdictCacheOptions;
  private readonly now: () => number;

  constructor(options: VerdictCacheOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The remembered verdict for `key`, or undefined if none or expired. */
  get(key: string): Verdict | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.verdict;
  }

  set(key: string, verdict: Verdict): void {
    const ttl = verdict === null ? this.options.okTtlMs : this.options.refusedTtlMs;
    // Re-inserted at the end: the eviction order is the order of last verification.
    this.entries.delete(key);
    this.entries.set(key, { verdict, expiresAt: this.now() + ttl });
    while (this.entries.size > this.options.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  /** Forgets `key`: RabbitMQ refused something it had verified (the queue changed since). */
  delete(key: string): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}
