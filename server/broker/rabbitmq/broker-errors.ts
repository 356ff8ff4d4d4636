/**
 * Turns RabbitMQ's ERROR frames into catalogue errors. RabbitMQ names AMQP conditions in the
 * `message` header (`not_found`, `access_refused`, `precondition_failed`...) and explains in the body.
 */
import type { StompFrame } from '../../codec/frame';
import { Errors, relayError, type RelayError } from '../../errors';

/**
 * Conditions that mean "this destination cannot be used", as opposed to a broker failure.
 * `resource_locked`: the queue is exclusive to another connection (another session's, on the relay).
 */
const DESTINATION_CONDITIONS = [
  'not_found',
  'access_refused',
  'resource_locked',
  'Invalid destination',
  'Unknown destination',
  'Bad header',
];

const LOCKED_PREFIX = relayError(Errors.DESTINATION_NOT_ALLOWED, 'resource_locked').message;

export function brokerErrorToRelayError(frame: StompFrame): RelayError {
  const condition = frame.headers.message ?? 'error';
  const detail =
    frame.body.length > 0 ? `${condition}: ${frame.body.toString('utf8', 0, Math.min(frame.body.length, 512)).trim()}` : condition;
  for (const known of DESTINATION_CONDITIONS) {
    if (condition.startsWith(known)) return relayError(Errors.DESTINATION_NOT_ALLOWED, detail);
  }
  return relayError(Errors.BROKER_ERROR, detail);
}

/** True for RabbitMQ's RESOURCE_LOCKED: the queue exists, but is exclusive to another connection. */
export function isQueueLocked(error: RelayError): boolean {
  return error.code === 'DESTINATION_NOT_ALLOWED' && error.message.startsWith(LOCKED_PREFIX);
}
