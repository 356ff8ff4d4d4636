/**
 * How the embedded broker reads a destination. Names follow RabbitMQ's STOMP plugin
 * (https://www.rabbitmq.com/docs/stomp#d): the embedded broker accepts the same spellings so an
 * application moves between the two engines unchanged.
 */

/** Where a published message goes inside the embedded broker. */
export type RoutedDestination =
  /** Publish/subscribe; `key` is the routing key: the whole destination, matched exactly. */
  | { readonly kind: 'topic'; readonly key: string }
  /** Competing consumers on the queue called `name` (`/queue/x` and `/amq/queue/x` are both `x`). */
  | { readonly kind: 'queue'; readonly name: string }
  /** `/reply-queue/<name>`: SEND only, to the reply address or queue called `name`. */
  | { readonly kind: 'reply'; readonly name: string };

const TOPIC = '/topic/';
const EXCHANGE = '/exchange/';
const QUEUE = '/queue/';
const AMQ_QUEUE = '/amq/queue/';
const REPLY_QUEUE = '/reply-queue/';

/**
 * Parses a destination, or returns undefined when the embedded broker does not serve it
 * (`/temp-queue/...`, unknown prefixes, empty names, a `/` inside a name). Whether a route may be
 * subscribed to (`reply` may not) is the broker's business.
 *
 * Topics are matched on the whole destination string, with no wildcards: `/topic/a.*` is a topic
 * literally called `a.*`, and `/exchange/amq.topic/k` is a different topic from `/topic/k` (on
 * RabbitMQ both reach `amq.topic` with key `k`, and `*`/`#` in a subscription are wildcards).
 */
export function routeDestination(destination: string): RoutedDestination | undefined {
  if (destination.startsWith(TOPIC)) {
    return isName(destination, TOPIC.length) ? { kind: 'topic', key: destination } : undefined;
  }
  if (destination.startsWith(QUEUE)) {
    return isName(destination, QUEUE.length) ? { kind: 'queue', name: destination.slice(QUEUE.length) } : undefined;
  }
  if (destination.startsWith(AMQ_QUEUE)) {
    return isName(destination, AMQ_QUEUE.length)
      ? { kind: 'queue', name: destination.slice(AMQ_QUEUE.length) }
      : undefined;
  }
  if (destination.startsWith(REPLY_QUEUE)) {
    return isName(destination, REPLY_QUEUE.length) ? { kind: 'reply', name: destination.slice(REPLY_QUEUE.length) } : undefined;
  }
  if (destination.startsWith(EXCHANGE)) {
    // `/exchange/<name>` or `/exchange/<name>/<key>`; the key may be empty, the exchange name may not.
    const slash = destination.indexOf('/', EXCHANGE.length);
    if (slash === -1) return isName(destination, EXCHANGE.length) ? { kind: 'topic', key: destination } : undefined;
    if (slash === EXCHANGE.length) return undefined;
    return destination.indexOf('/', slash + 1) === -1 ? { kind: 'topic', key: destination } : undefined;
  }
  return undefined;
}

/** True when `destination` from `start` is a non-empty name without `/`. */
function isName(destination: string, start: number): boolean {
  return destination.length > start && destination.indexOf('/', start) === -1;
}
