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
