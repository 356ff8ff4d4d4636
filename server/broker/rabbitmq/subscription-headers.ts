/**
 * Which SUBSCRIBE and SEND headers go to RabbitMQ, which MESSAGE headers come back to clients,
 * and which subscriptions can share one broker subscription.
 */
import type { StompFrame, StompHeaders } from '../../codec/frame';
import type { SubscribeRequest } from '../broker';

/** Headers the engine sets itself on SUBSCRIBE: a client's value would break the multiplexing. */
const ENGINE_SUBSCRIBE_HEADERS = new Set(['id', 'ack', 'destination', 'receipt']);
/** Headers the engine sets itself on SEND. */
const ENGINE_SEND_HEADERS = new Set(['destination', 'receipt', 'content-length', 'transaction']);
/** MESSAGE headers that belong to the broker connection, not to the message (the session adds its own). */
const CONNECTION_MESSAGE_HEADERS = new Set(['subscription', 'message-id', 'ack', 'content-length', 'destination', 'receipt']);

/** Destinations whose subscriptions compete for messages (each gets its own broker subscription). */
export function isQueueDestination(destination: string): boolean {
  return destination.startsWith('/queue/') || destination.startsWith('/amq/queue/');
}

/**
 * The key under which auto-ack subscriptions share one broker subscription, or undefined when the
 * subscription must be its own: queues (competing consumers, prefetch), client acks, durable topic
 * subscriptions, temporary and reply queues (bound to the connection that made them).
 */
export function shareKey(request: SubscribeRequest): string | undefined {
  const { destination } = request;
  if (request.ack !== 'auto') return undefined;
  if (!destination.startsWith('/topic/') && !destination.startsWith('/exchange/')) return undefined;
  if (request.headers.durable === 'true' || request.headers.persistent === 'true') return undefined;
  const names = Object.keys(request.headers).filter((k) => !ENGINE_SUBSCRIBE_HEADERS.has(k)).sort();
  let key = destination;
  for (const name of names) key += `\n${name}:${request.headers[name]}`;
  return key;
}

/** SUBSCRIBE headers for RabbitMQ: the client's pass-through headers plus the engine's own. */
export function subscribeHeaders(request: SubscribeRequest, id: string): StompHeaders {
  const out: StompHeaders = Object.create(null);
  for (const name of Object.keys(request.headers)) {
    if (!ENGINE_SUBSCRIBE_HEADERS.has(name)) out[name] = request.headers[name];
  }
  out.id = id;
  out.destination = request.destination;
  // `client` is turned into `client-individual`: RabbitMQ implements a `client` ACK as a multiple
  // basic.ack over the whole channel, which would also ack other consumers sharing the pooled
  // connection. The engine applies the cumulative rule per consumer instead (rabbit-consumer.ts).
  out.ack = request.ack === 'auto' ? 'auto' : 'client-individual';
  return out;
}

/** SEND headers for RabbitMQ. */
export function sendHeaders(destination: string, headers: StompHeaders): StompHeaders {
  const out: StompHeaders = Object.create(null);
  for (const name of Object.keys(headers)) {
    if (!ENGINE_SEND_HEADERS.has(name)) out[name] = headers[name];
  }
  out.destination = destination;
  return out;
}

/** The headers of a MESSAGE from RabbitMQ that the receiving client should see. */
export function messageHeaders(frame: StompFrame): StompHeaders {
  const out: StompHeaders = Object.create(null);
  for (const name of Object.keys(frame.headers)) {
    if (!CONNECTION_MESSAGE_HEADERS.has(name)) out[name] = frame.headers[name];
  }
  return out;
}
