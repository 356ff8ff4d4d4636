/**
 * Reconnect delays: exponential with "equal jitter" (half fixed, half random), so instances that
 * lost RabbitMQ together do not all knock on it in the same millisecond when it comes back.
 * https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
 *
 * The one backoff of the server (pooled STOMP connections, the AMQP link). The browser client has
 * its own (client/src/backoff.ts, built separately for browsers and part of its public API): full
 * jitter from 0, since a fleet of browsers must spread out more than a few instances, while an
 * instance should not wait almost nothing after a short outage.
 */
export interface BackoffOptions {
  /** Delay before the first retry, before jitter. */
  initialMs: number;
  /** Largest delay, before jitter. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({ initialMs: 200, maxMs: 10_000 });

/** Delay before retry number `attempt` (0 = first retry): in [d/2, d] with d = min(max, initial·2^attempt). */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

/**
 * The retry loop of a link that reconnects by itself (a pooled STOMP connection, the AMQP link):
 * at most one attempt pending, waits from the backoff, and a stop that ends the loop for good.
 */
export class RetryLoop {
  /** Attempts that failed since the last success. */
  private failed = 0;
  private timer: NodeJS.Timeout | undefined;
  private ended = false;

  /** `attempt` makes one attempt; `delay(failures)` is how long to wait before the next one. */
  constructor(
    private readonly attempt: () => void,
    private readonly delay: (failures: number) => number,
  ) {}

  get stopped(): boolean {
    return this.ended;
  }
  /** Attempts that failed since the last success (for logs: warn on the first of a series). */
  get failures(): number {
    return this.failed;
  }

  /** An attempt failed or the link dropped: the next attempt waits its turn, unless one is pending or the loop stopped. */
  later(): void {
    if (this.ended || this.timer !== undefined) return;
    const wait = this.delay(this.failed++);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.attempt();
    }, wait);
  }

  /** Makes the pending attempt now (another link just reached the broker: it is back). */
  now(): void {
    if (this.timer === undefined || this.ended) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.attempt();
  }

  /** The link is up: the next failure starts a new series. */
  succeeded(): void {
    this.failed = 0;
  }

  stop(): void {
    this.ended = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
