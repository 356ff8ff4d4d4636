/**
 * Which headers travel from a publisher to receivers. One policy for every path a message takes:
 * client SENDs (session-protocol.ts), MESSAGE encoding (message-encoder.ts), and pushes or
 * application publishes (user-messaging.ts).
 */

/**
 * Headers that belong to the protocol exchange with one peer, or that the relay sets per receiver:
 * never carried from a publisher to a receiver (a publisher must not forge another subscription's
 * `ack` or `message-id`).
 */
export const PROTOCOL_HEADERS: ReadonlySet<string> = new Set([
  'destination', 'subscription', 'ack', 'message-id', 'content-length', 'receipt', 'transaction',
]);

/** Prefix of headers the relay uses between its instances (e.g. sendToSession's target). */
export const INTERNAL_HEADER_PREFIX = 'x-stomp-relay-';

/** True for relay-internal headers, whatever their case: they never come from, or reach, clients. */
export function isInternalHeader(name: string): boolean {
  return name.length >= INTERNAL_HEADER_PREFIX.length && name.slice(0, INTERNAL_HEADER_PREFIX.length).toLowerCase() === INTERNAL_HEADER_PREFIX;
}

/** True for headers a publisher's message carries to its receivers. */
export function isCarriedHeader(name: string): boolean {
  return !PROTOCOL_HEADERS.has(name) && !isInternalHeader(name);
}

/** True when `destination` is under one of `prefixes` and names something below it. */
export function underPrefix(destination: string, prefixes: readonly string[]): boolean {
  for (const prefix of prefixes) {
    if (destination.length > prefix.length && destination.startsWith(prefix)) return true;
  }
  return false;
}
