/**
 * Which SUBSCRIBE and SEND headers go to RabbitMQ, which MESSAGE headers come back to clients,
 * and which subscriptions can share one broker subscription.
 */
import { headersExcept, type StompFrame, type StompHeaders } from '../../codec/frame';
import type { CloseOptions, SubscribeRequest } from '../broker';
import { engineDurableQueue, stompBoolean } from '../subscription-flags';

/** Headers the engine sets itself on SUBSCRIBE: a client's value would break the multiplexing. */
export const ENGINE_SUBSCRIBE_HEADERS: ReadonlySet<string> = new Set(['id', 'ack', 'destination', 'receipt']);
/** Headers the engine sets itself on SEND. */
const ENGINE_SEND_HEADERS = new Set(['destination', 'receipt', 'content-length', 'transaction']);
/**
 * MESSAGE headers that belong to the broker connection, not to the message (the session adds its
 * own). RabbitMQ also copies a SEND's `receipt` and `content-length` into the message's AMQP
 * headers table, so the AMQP side (amqp/amqp-message.ts) drops the same names.
 */
export const CONNECTION_MESSAGE_HEADERS: ReadonlySet<string> = new Set([
  'subscription',
  'message-id',
  'ack',
  'content-length',
  'destination',
  'receipt',
]);

/** Flags are read the same way by both engines (subscription-flags.ts). */
export { stompBoolean };

/**
 * The key under which auto-ack subscriptions share one broker subscription, or undefined when the
 * subscription must be its own: queues (competing consumers, prefetch), client acks, durable topic
 * subscriptions, temporary and reply queues (bound to the connection that made them).
 */
export function shareKey(request: SubscribeRequest): string | undefined {
  const { destination } = request;
  if (request.ack !== 'auto') return undefined;
  if (!destination.startsWith('/topic/') && !destination.startsWith('/exchange/')) return undefined;
  if (stompBoolean(request.headers.durable) === true || stompBoolean(request.headers.persistent) === true) return undefined;
  const names = Object.keys(request.headers)
    .filter((k) => !ENGINE_SUBSCRIBE_HEADERS.has(k))
    .sort();
  let key = destination;
  for (const name of names) key += `\n${name}:${request.headers[name]}`;
  return key;
}

/** SUBSCRIBE headers for RabbitMQ: the client's pass-through headers plus the engine's own. */
export function subscribeHeaders(request: SubscribeRequest, id: string): StompHeaders {
  const out = headersExcept(request.headers, ENGINE_SUBSCRIBE_HEADERS);
  out.id = id;
  out.destination = request.destination;
  // `client` is turned into `client-individual`: RabbitMQ implements a `client` ACK as a multiple
  // basic.ack over the whole channel, which would also ack other consumers sharing the pooled
  // connection. The engine applies the cumulative rule per consumer instead (rabbit-consumer.ts).
  out.ack = request.ack === 'auto' ? 'auto' : 'client-individual';
  // RabbitMQ applies prefetch-count with basic.qos on the connection's one channel, and a SUBSCRIBE
  // without the header leaves the channel's last value in force: on a pooled connection one
  // subscription's prefetch-count:1 would cap every later one. So client-ack subscriptions always
  // say theirs (0 = unlimited). Auto-ack ones are not limited by basic.qos at all.
  if (out.ack !== 'auto') out['prefetch-count'] = request.headers['prefetch-count'] ?? '0';
  return out;
}

/**
 * Extra UNSUBSCRIBE headers: for a durable topic subscription the engine named, closed with
 * `removeDurable`, `durable:true` and its `x-queue-name` make RabbitMQ delete the queue
 * (rabbit_stomp_processor maybe_delete_durable_sub). Undefined otherwise: the queue stays.
 */
export function unsubscribeHeaders(request: SubscribeRequest, options: CloseOptions | undefined): Record<string, string> | undefined {
  const queue = options?.removeDurable ? engineDurableQueue(request) : undefined;
  return queue === undefined ? undefined : { durable: 'true', 'x-queue-name': queue };
}

/** SEND headers for RabbitMQ. */
export function sendHeaders(destination: string, headers: StompHeaders): StompHeaders {
  const out = headersExcept(headers, ENGINE_SEND_HEADERS);
  out.destination = destination;
  return out;
}

/** The headers of a MESSAGE from RabbitMQ that the receiving client should see. */
export function messageHeaders(frame: StompFrame): StompHeaders {
  return headersExcept(frame.headers, CONNECTION_MESSAGE_HEADERS);
}
