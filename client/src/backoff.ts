/**
 * Reconnect delays: exponential backoff with "full jitter" (AWS architecture blog, "Exponential
 * Backoff And Jitter"). Every client that lost the same gateway picks a random delay in
 * [0, min(max, initial * 2^(attempt-1))], so a fleet of browsers does not reconnect in lock-step
 * and stampede the instances that are left. (The relay's own connections to RabbitMQ use equal
 * jitter instead: server/broker/rabbitmq/backoff.ts.)
 */

/** Bounds of the reconnect backoff, in milliseconds. */
export interface ReconnectOptions {
  /** Upper bound of the first retry's delay. Default 500. */
  initialMs: number;
  /** Upper bound of any delay, however many attempts failed. Default 30000. */
  maxMs: number;
}

export const DEFAULT_RECONNECT: Readonly<ReconnectOptions> = Object.freeze({ initialMs: 500, maxMs: 30_000 });

/**
 * Delay before reconnect attempt number `attempt` (1 = first retry after a loss).
 * `random` returns a number in [0, 1); injectable so tests can pin it.
 */
export function backoffDelay(attempt: number, options: ReconnectOptions, random: () => number = Math.random): number {
  if (attempt < 1) return 0;
  // Cap the exponent so 2 ** n stays finite for clients that have been offline for days.
  const ceiling = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(attempt - 1, 30));
  return Math.floor(random() * ceiling);
}

/** Checks user-supplied bounds once, at construction, with a readable message. */
export function validateReconnect(options: Partial<ReconnectOptions> | undefined): ReconnectOptions {
  const merged = { ...DEFAULT_RECONNECT, ...options };
  if (!(merged.initialMs > 0) || !(merged.maxMs >= merged.initialMs)) {
    throw new RangeError(`reconnect needs 0 < initialMs <= maxMs, got initialMs=${merged.initialMs} maxMs=${merged.maxMs}`);
  }
  return merged;
}
