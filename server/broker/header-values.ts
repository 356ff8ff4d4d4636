/**
 * Numeric SUBSCRIBE and SEND header values, read the same way by both engines (RabbitMQ's limits:
 * the embedded broker mimics them, so a request one engine refuses the other refuses too).
 * No regular expressions: these run per request.
 */
import { isDigits } from '../codec/digits';
import type { StompHeaders } from '../codec/frame';
import { Errors, relayError, type RelayError } from '../errors';
import { isTempQueue } from './destinations';

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

/**
 * What both engines refuse in a SEND's headers, wherever it goes (INVALID_HEADER), or undefined:
 * - a `reply-to` under `/temp-queue/`: on RabbitMQ the plugin would make the temporary queue on
 *   a shared broker connection, a queue nobody can free and whose replies no session could be
 *   found for; callers open a reply address instead (broker.ts `openReplyAddress`);
 * - a `priority` that is not a whole number ≤ 255, an `expiration` that is not a whole number of
 *   ms: RabbitMQ answers those with an ERROR (STOMP) or a channel error (AMQP, the link every
 *   user push shares), so they are refused before anything goes out.
 */
export function publishHeaderRefusal(headers: StompHeaders): RelayError | undefined {
  const replyTo = headers['reply-to'];
  if (replyTo !== undefined && isTempQueue(replyTo)) {
    return relayError(
      Errors.INVALID_HEADER,
      'reply-to',
      `${replyTo} (a temporary queue is not made for a shared broker connection; open a reply address)`,
    );
  }
  const priority = headers.priority;
  if (priority !== undefined && !isWholeNumber(priority, 255)) return relayError(Errors.INVALID_HEADER, 'priority', priority);
  const expiration = headers.expiration;
  if (expiration !== undefined && !isWholeNumber(expiration, Number.MAX_SAFE_INTEGER))
    return relayError(Errors.INVALID_HEADER, 'expiration', expiration);
  return undefined;
}
