/**
 * Numeric SUBSCRIBE and SEND header values, read the same way by both engines (RabbitMQ's limits:
 * the embedded broker mimics them, so a request one engine refuses the other refuses too).
 * No regular expressions: these run per request.
 */
import { isDigits } from '../codec/digits';
import { Errors, relayError } from '../errors';

/** RabbitMQ's basic.qos prefetch-count is a 16-bit field. */
export const MAX_PREFETCH_COUNT = 65_535;

/** True for decimal digits only (no sign, no blanks) naming a number ≤ `max`. */
export function isWholeNumber(value: string, max: number): boolean {
  return value.length <= 16 && isDigits(value) && Number(value) <= max;
}

/**
 * A SUBSCRIBE's `prefetch-count`: the most unacked deliveries of a client-ack subscription; absent
 * or 0 means no cap (as in RabbitMQ). Throws INVALID_HEADER unless a whole number ≤ 65535.
 */
export function parsePrefetchCount(value: string | undefined): number {
  if (value === undefined) return 0;
  if (!isWholeNumber(value, MAX_PREFETCH_COUNT)) throw relayError(Errors.INVALID_HEADER, 'prefetch-count', value);
  return Number(value);
}
