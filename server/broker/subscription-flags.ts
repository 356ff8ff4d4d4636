/**
 * What a SUBSCRIBE's flags ask of the broker, read the same way by both engines, after RabbitMQ's
 * STOMP plugin (https://www.rabbitmq.com/docs/stomp#d; rabbit_routing_util queue_declare_method,
 * rabbit_stomp_util subscription_queue_name), so an application behaves alike on both.
 *
 * - **Exclusive queues.** On `/queue/`, `exclusive:true`, or `durable:false` / `persistent:false`
 *   without `exclusive:false`, declares a queue that belongs to one connection: nobody else may
 *   consume it, and it goes with that connection. The relay gives it to the subscriber's session.
 * - **Durable topic subscriptions.** `/topic/<key>` with `durable:true` or `persistent:true` and no
 *   `x-queue-name` keeps a durable queue that collects the topic's messages; with `auto-delete:false`
 *   (RabbitMQ's default for topic queues is auto-delete) it stays while nobody consumes it.
 *   RabbitMQ names it after the destination and subscription id; the relay names it after the
 *   user too ({@link durableQueueName}), so one user can never attach to another's. UNSUBSCRIBE
 *   with `durable:true` / `persistent:true` removes it; a disconnect keeps it.
 * - Flags are read as RabbitMQ 3.10 reads them ({@link stompBoolean}).
 */
import { createHash } from 'node:crypto';
import type { StompHeaders } from '../codec/frame';
import { Errors, relayError } from '../errors';
import type { SubscribeRequest } from './broker';

/**
 * A flag header as RabbitMQ 3.10's STOMP plugin reads it: `true` / `True` and `false` / `False`
 * (the capitalised forms for Python clients); undefined when absent; `'other'` for anything else,
 * `TRUE` included. RabbitMQ answers another spelling of `durable` or `persistent` with an ERROR
 * "Processing error" and no RECEIPT, and reads one of `auto-delete` or `exclusive` as its default;
 * so `'other'` values are verified on the probe connection, never sent straight to a shared one.
 */
export function stompBoolean(value: string | undefined): boolean | undefined | 'other' {
  if (value === undefined) return undefined;
  if (value === 'true' || value === 'True') return true;
  if (value === 'false' || value === 'False') return false;
  return 'other';
}

/** True when `headers` carry `durable:true` or `persistent:true` (RabbitMQ reads either). */
export function asksDurable(headers: Readonly<StompHeaders>): boolean {
  return stompBoolean(headers.durable) === true || stompBoolean(headers.persistent) === true;
}

/**
 * True when a SUBSCRIBE or SEND makes RabbitMQ declare a queue exclusive to the one connection it
 * arrives on (see the module comment). Only `/queue/` declares: on `/amq/queue/` (an existing
 * queue) the plugin ignores `exclusive`, and its consumers are never exclusive.
 */
export function isExclusiveQueueRequest(destination: string, headers: Readonly<StompHeaders>): boolean {
  if (!destination.startsWith('/queue/')) return false;
  const exclusive = stompBoolean(headers.exclusive);
  if (exclusive !== undefined && exclusive !== 'other') return exclusive;
  return stompBoolean(headers.durable) === false || stompBoolean(headers.persistent) === false;
}

/** Names of the queues behind durable topic subscriptions the engines name (reserved: reserved-names.ts). */
export const DURABLE_QUEUE_PREFIX = 'stomp-relay.durable.';

/**
 * The queue of `user`'s durable subscription `id` to `destination`: deterministic, so every instance
 * and every reconnect finds the same queue; a digest, so it fits RabbitMQ's 255 bytes whatever the
 * inputs, and says nothing of them to whoever lists queues.
 */
export function durableQueueName(user: string, destination: string, id: string): string {
  const digest = createHash('sha256')
    .update(JSON.stringify([user, destination, id]), 'utf8')
    .digest('base64url');
  return DURABLE_QUEUE_PREFIX + digest;
}

/**
 * `request` ready for an engine: a durable topic subscription without `x-queue-name` gets the queue
 * its user, destination and id name (as `x-queue-name`); anything else is returned as it is.
 * Throws DESTINATION_NOT_ALLOWED for durable subscriptions the relay cannot keep per user: from an
 * anonymous session, or on `/exchange/` (RabbitMQ cannot remove such a queue on UNSUBSCRIBE; name
 * it with `x-queue-name` to keep it as your own).
 */
export function resolveDurableTopic(request: SubscribeRequest): SubscribeRequest {
  const { destination, headers } = request;
  const topic = destination.startsWith('/topic/');
  if ((!topic && !destination.startsWith('/exchange/')) || headers['x-queue-name'] !== undefined || !asksDurable(headers)) return request;
  if (!topic) {
    throw relayError(
      Errors.DESTINATION_NOT_ALLOWED,
      `${destination} with durable:true and no x-queue-name (durable subscriptions are kept per user on /topic/ only; on /exchange/ name the queue with x-queue-name)`,
    );
  }
  const user = request.subscriber?.user;
  if (user === undefined) {
    throw relayError(
      Errors.DESTINATION_NOT_ALLOWED,
      `${destination} with durable:true from an anonymous session (a durable subscription is kept per user: log in)`,
    );
  }
  const named: StompHeaders = Object.assign(Object.create(null) as StompHeaders, headers);
  named['x-queue-name'] = durableQueueName(user, destination, request.subscriber!.id);
  return { ...request, headers: named };
}

/** The queue of a durable topic subscription the engine named (see {@link resolveDurableTopic}), if it is one. */
export function engineDurableQueue(request: SubscribeRequest): string | undefined {
  const name = request.headers['x-queue-name'];
  return name !== undefined && name.startsWith(DURABLE_QUEUE_PREFIX) && request.destination.startsWith('/topic/') ? name : undefined;
}
