/**
 * How the embedded broker reads a destination. Names follow RabbitMQ's STOMP plugin
 * (https://www.rabbitmq.com/docs/stomp#d): the embedded broker accepts the same spellings so an
 * application moves between the two engines unchanged.
 */

import { parseDestination } from '../destinations';

/** Where a published message goes inside the embedded broker. */
export type RoutedDestination =
  /** Publish/subscribe; `key` is the routing key: the whole destination, matched exactly. */
  | { readonly kind: 'topic'; readonly key: string }
  /** Competing consumers on the queue called `name` (`/queue/x` and `/amq/queue/x` are both `x`). */
  | { readonly kind: 'queue'; readonly name: string }
  /** `/reply-queue/<name>`: SEND only, to the reply address or queue called `name`. */
  | { readonly kind: 'reply'; readonly name: string };

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
  const parsed = parseDestination(destination);
  switch (parsed.kind) {
    case 'topic':
      return isName(parsed.name) ? { kind: 'topic', key: destination } : undefined;
    case 'queue':
    case 'amq-queue':
      return isName(parsed.name) ? { kind: 'queue', name: parsed.name } : undefined;
    case 'reply-queue':
      return isName(parsed.name) ? { kind: 'reply', name: parsed.name } : undefined;
    case 'exchange': {
      // `/exchange/<name>` or `/exchange/<name>/<key>`; the key may be empty, the exchange name may not.
      if (parsed.exchange.length === 0) return undefined;
      const key = parsed.name.slice(parsed.exchange.length);
      return key.length === 0 || key.indexOf('/', 1) === -1 ? { kind: 'topic', key: destination } : undefined;
    }
    default:
      return undefined;
  }
}

/** True for a non-empty name without `/`. */
function isName(name: string): boolean {
  return name.length > 0 && name.indexOf('/') === -1;
}
