/**
 * Which headers travel from a publisher to receivers. One policy for every path a message takes:
 * client SENDs (session-protocol.ts), MESSAGE encoding (message-encoder.ts), and pushes or
 * application publishes (user-messaging.ts).
 */
import type { HeaderExclusion } from '../codec/frame';

/**
 * Headers that belong to the protocol exchange with one peer, or that the relay sets per receiver:
 * never carried from a publisher to a receiver (a publisher must not forge another subscription's
 * `ack` or `message-id`).
 */
export const PROTOCOL_HEADERS: ReadonlySet<string> = new Set([
  'destination',
  'subscription',
  'ack',
  'message-id',
  'content-length',
  'receipt',
  'transaction',
]);

/** Prefix of headers the relay uses between its instances (e.g. sendToSession's target). */
export const INTERNAL_HEADER_PREFIX = 'x-stomp-relay-';

/** True for relay-internal headers, whatever their case: they never come from, or reach, clients. */
export function isInternalHeader(name: string): boolean {
  return (
    name.length >= INTERNAL_HEADER_PREFIX.length && name.slice(0, INTERNAL_HEADER_PREFIX.length).toLowerCase() === INTERNAL_HEADER_PREFIX
  );
}

/**
 * Header the relay sets on every client SEND to the sending session's user name (absent for an
 * anonymous session). It is carried to receivers like an application header, through the broker
 * and across instances, so receivers can tell who wrote to them. A client cannot set it: whatever
 * the client sent under this name, in any letter case, is dropped and the relay's value put in its
 * place (replaced rather than refused, so a client that forwards a MESSAGE's headers unchanged
 * keeps working, and the receiver still sees the truth). Pushes, `relay.publish()` and application
 * handlers' replies carry none, and may not set one.
 */
export const SENDER_HEADER = 'x-relay-sender';

/**
 * Headers only the relay may put on a message: {@link SENDER_HEADER}, and resume's `resume-token`
 * and `resume-gap` (broker/history.ts), which a publisher must not forge.
 */
const RELAY_SET_HEADERS: ReadonlySet<string> = new Set([SENDER_HEADER, 'resume-token', 'resume-gap']);

/** True for headers only the relay may put on a message, whatever their case ({@link RELAY_SET_HEADERS}). */
export function isRelaySetHeader(name: string): boolean {
  return name.length <= 14 && RELAY_SET_HEADERS.has(name.toLowerCase());
}

/** What a copy of a publisher's headers for its receivers leaves out (codec/frame.ts headersExcept). */
export const NOT_CARRIED_HEADERS: readonly HeaderExclusion[] = [PROTOCOL_HEADERS, isInternalHeader];

/** True for headers a publisher's message carries to its receivers. */
export function isCarriedHeader(name: string): boolean {
  return !PROTOCOL_HEADERS.has(name) && !isInternalHeader(name);
}
