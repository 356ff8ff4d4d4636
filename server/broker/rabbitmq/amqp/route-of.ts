/**
 * Which subscriptions ride on the instance's route queue (instance-routes.ts) instead of a STOMP
 * subscription of their own: auto-ack, no extra headers (no selector, no queue name or arguments,
 * not durable), to a plain topic or a key of a built-in exchange that routes by key
 * (`/topic/<key>` = `amq.topic`, `/exchange/amq.topic/<key>`, `/exchange/amq.direct/<key>`; user
 * destinations are `amq.direct` keys). Those need nothing from RabbitMQ but a binding. Everything
 * else keeps RabbitMQ's STOMP semantics through the pooled STOMP connections.
 */
import type { SubscribeRequest } from '../../broker';
import type { RouteExchange } from './instance-routes';

/** AMQP's limit on a routing key (shortstr). A longer one would fail the bind and close the channel. */
const MAX_ROUTING_KEY_BYTES = 255;

export interface Route {
  readonly exchange: RouteExchange;
  readonly key: string;
}

export function routeOf(request: SubscribeRequest): Route | undefined {
  if (request.ack !== 'auto') return undefined;
  for (const _ in request.headers) return undefined;
  const { destination } = request;
  let exchange: RouteExchange;
  let key: string;
  if (destination.startsWith('/topic/')) {
    exchange = 'amq.topic';
    key = destination.slice('/topic/'.length);
  } else if (destination.startsWith('/exchange/amq.direct/')) {
    exchange = 'amq.direct';
    key = destination.slice('/exchange/amq.direct/'.length);
  } else if (destination.startsWith('/exchange/amq.topic/')) {
    exchange = 'amq.topic';
    key = destination.slice('/exchange/amq.topic/'.length);
  } else {
    return undefined;
  }
  // RabbitMQ splits names on `/` and decodes `%2F`; such names keep the plugin's own handling.
  if (key.length === 0 || key.includes('/') || key.includes('%')) return undefined;
  if (Buffer.byteLength(key, 'utf8') > MAX_ROUTING_KEY_BYTES) return undefined;
  return { exchange, key };
}
