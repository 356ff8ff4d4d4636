/**
 * Which SUBSCRIBE and SEND requests could make RabbitMQ close the connection they arrive on.
 *
 * RabbitMQ's STOMP plugin runs one AMQP channel per connection, and answers a channel error
 * (missing queue or exchange, a queue redeclared with other flags or arguments, an argument of the
 * wrong type, a reserved name) with ERROR and then closes the TCP connection. The engine shares
 * its connections between every session of the instance, so one such request would cut everybody
 * else's topic subscriptions for the length of a reconnect. This module sorts requests into:
 *
 * - `safe`: cannot fail that way (topics and built-in exchanges with plain headers, publishes that
 *   declare nothing): sent straight to a pooled connection;
 * - `refuse`: can never work through a shared connection, or RabbitMQ would reject the header
 *   value: refused here, without a round trip;
 * - `probe`: depends on what exists on the broker now: tried first on the disposable probe
 *   connection (probe-connection.ts); `key` names what was verified, for the cache.
 *
 * Pure functions, no regular expressions: {@link assessPublish} runs on every publish.
 * RabbitMQ specifics: https://www.rabbitmq.com/stomp.html#d
 */
import { headersExcept, type StompHeaders } from '../../codec/frame';
import { Errors, relayError, type RelayError } from '../../errors';
import type { SubscribeRequest } from '../broker';
import { AMQ_QUEUE_PREFIX, EXCHANGE_PREFIX, parseDestination, type ParsedDestination } from '../destinations';
import { isWholeNumber, parsePrefetchCount, publishHeaderRefusal } from '../header-values';
import { isExclusiveQueueRequest, stompBoolean } from '../subscription-flags';
import { ENGINE_SUBSCRIBE_HEADERS } from './subscription-headers';

/** What the probe connection subscribes to, to find out whether the real request would work. */
export interface ProbeTarget {
  readonly destination: string;
  /** SUBSCRIBE headers that make RabbitMQ declare or check the same things the request would. */
  readonly headers: StompHeaders;
}

export type Assessment =
  | { readonly verdict: 'safe' }
  | { readonly verdict: 'refuse'; readonly error: RelayError }
  | {
      readonly verdict: 'probe';
      readonly key: string;
      readonly target: ProbeTarget;
      /**
       * SEND to `/queue/<name>` only: where the message goes instead when the probe finds the queue
       * exclusive to another connection (RESOURCE_LOCKED): `/amq/queue/<name>`, which publishes
       * through the default exchange without declaring, as any connection may.
       */
      readonly lockedVia?: string;
    };

const SAFE: Assessment = Object.freeze({ verdict: 'safe' });

/** Exchanges every RabbitMQ vhost has (https://www.rabbitmq.com/tutorials/amqp-concepts#exchange-default). */
export const BUILTIN_EXCHANGES: ReadonlySet<string> = new Set(['amq.direct', 'amq.topic', 'amq.fanout', 'amq.headers', 'amq.match']);

/** SUBSCRIBE headers that declare nothing and whose bad values RabbitMQ shrugs off (checked here otherwise). */
const PASSIVE_SUBSCRIBE_HEADERS = new Set(['selector', 'prefetch-count']);
/** Flags RabbitMQ reads as booleans when it declares a subscription's queue. */
const FLAG_HEADERS = new Set(['durable', 'persistent', 'auto-delete', 'exclusive']);
/**
 * The `x-*` headers RabbitMQ turns into queue arguments (rabbit_stomp_util): on a SEND to
 * `/queue/` they change the declaration; every other `x-*` SEND header is an application header.
 */
export const QUEUE_ARGUMENT_HEADERS: ReadonlySet<string> = new Set([
  'x-dead-letter-exchange',
  'x-dead-letter-routing-key',
  'x-expires',
  'x-max-length',
  'x-max-length-bytes',
  'x-max-priority',
  'x-message-ttl',
  'x-overflow',
  'x-queue-mode',
  'x-queue-type',
  'x-queue-master-locator',
  'x-single-active-consumer',
  'x-max-age',
  'x-stream-max-segment-size-bytes',
  'x-initial-cluster-size',
  'x-delivery-limit',
  'x-queue-version',
]);

/**
 * True when a subscription depends on something it does not declare itself: an existing queue
 * (`/amq/queue/`) or a non-built-in exchange. Those may have vanished with a broker restart and are
 * verified again before a restored subscription reaches a pooled connection. A `/queue/` or topic
 * subscription declares what it needs, with the headers already accepted once: restored directly
 * (a probe would compete with it for messages already waiting). Except on a `cluster` of several
 * nodes: a classic `/queue/` lives on one node, and while that node is down RabbitMQ answers its
 * declaration ("home node ... is down") by closing the connection.
 */
export function dependsOnBrokerState(request: SubscribeRequest, cluster = false): boolean {
  const parsed = parseDestination(request.destination);
  return (
    parsed.kind === 'amq-queue' ||
    (parsed.kind === 'exchange' && !BUILTIN_EXCHANGES.has(parsed.exchange)) ||
    (cluster && parsed.kind === 'queue')
  );
}

/** Decides how a SUBSCRIBE reaches RabbitMQ (see the module comment). */
export function assessSubscribe(request: SubscribeRequest): Assessment {
  const { destination, headers } = request;
  const parsed = parseDestination(destination);
  const refusal = refuseDestination(parsed, destination, 'SUBSCRIBE');
  if (refusal) return refusal;
  let prefetch: number;
  try {
    prefetch = parsePrefetchCount(headers['prefetch-count']);
  } catch (err) {
    return { verdict: 'refuse', error: err as RelayError };
  }
  const badStreamConsumer = streamConsumerRefusal(request, parsed, prefetch);
  if (badStreamConsumer) return badStreamConsumer;

  // Headers that make RabbitMQ declare or look something up: they must be verified.
  let declaring = false;
  let plainFlags = true;
  for (const name of Object.keys(headers)) {
    if (ENGINE_SUBSCRIBE_HEADERS.has(name) || PASSIVE_SUBSCRIBE_HEADERS.has(name)) continue;
    declaring = true;
    if (!FLAG_HEADERS.has(name) || stompBoolean(headers[name]) === 'other') plainFlags = false;
  }
  if (parsed.kind === 'queue' || parsed.kind === 'amq-queue') {
    // Only /queue/ declares; /amq/queue/ names an existing queue, and its consumers are never exclusive.
    const exclusive = exclusiveQueue(destination, headers);
    if (exclusive) return exclusive;
  }
  if (
    (parsed.kind === 'topic' || parsed.kind === 'exchange') &&
    headers['x-queue-name'] === undefined &&
    (stompBoolean(headers.durable) === true || stompBoolean(headers.persistent) === true)
  ) {
    // RabbitMQ names a durable subscription's queue after the destination and the subscription id,
    // and the engine's ids change with every reconnect and restart: each one would leave a durable
    // queue behind that fills up forever. A client that wants one names it (then it is its own).
    return refuse(
      Errors.DESTINATION_NOT_ALLOWED,
      `${destination} with durable:true and no x-queue-name (name the durable queue with x-queue-name, or subscribe without durable)`,
    );
  }
  const publicExchange = parsed.kind === 'topic' || (parsed.kind === 'exchange' && BUILTIN_EXCHANGES.has(parsed.exchange));
  // A topic subscription gets a fresh, server-named queue: with no name or arguments from the
  // client, nothing can clash with what exists.
  if (publicExchange && (!declaring || plainFlags)) return SAFE;
  if (parsed.kind === 'exchange' && !declaring) return exchangeProbe(parsed.exchange);
  const target: ProbeTarget = { destination, headers: headersExcept(headers, [ENGINE_SUBSCRIBE_HEADERS, PASSIVE_SUBSCRIBE_HEADERS]) };
  return { verdict: 'probe', key: `SUBSCRIBE\n${destination}${headerSignature(target.headers)}`, target };
}

/**
 * Refuses a stream consumer RabbitMQ would refuse by closing the connection: a stream takes only
 * client acks (an ack is credit, not removal) and needs a prefetch-count of 1 or more
 * (https://www.rabbitmq.com/docs/streams#consuming). The probe cannot find out, since it always
 * subscribes with client acks and a prefetch of 1. A request is a stream consumer when it declares
 * a stream (`/queue/` with `x-queue-type: stream`) or reads from an offset (`x-stream-offset`); a
 * stream named by `/amq/queue/` without `x-stream-offset` looks like any other queue.
 */
function streamConsumerRefusal(request: SubscribeRequest, parsed: ParsedDestination, prefetch: number): Assessment | undefined {
  const { headers } = request;
  if (parsed.kind !== 'queue' && parsed.kind !== 'amq-queue') return undefined;
  const declaresStream = parsed.kind === 'queue' && headers['x-queue-type'] === 'stream';
  const offset = headers['x-stream-offset'];
  if (!declaresStream && offset === undefined) return undefined;
  if (offset !== undefined && !isStreamOffset(offset)) {
    // RabbitMQ's STOMP plugin ignores other words and crashes the connection on a bad number.
    return refuse(Errors.INVALID_HEADER, 'x-stream-offset', `${offset} (first, last, next, offset=<n> or timestamp=<unix seconds>)`);
  }
  if (request.ack === 'auto') {
    return refuse(
      Errors.INVALID_HEADER,
      'ack',
      `auto (${request.destination} is a stream, which takes only ack:client or ack:client-individual)`,
    );
  }
  if (prefetch === 0) {
    return refuse(
      Errors.INVALID_HEADER,
      'prefetch-count',
      `${headers['prefetch-count'] ?? '(none)'} (${request.destination} is a stream: its consumers need a prefetch-count of 1 or more)`,
    );
  }
  return undefined;
}

/** An `x-stream-offset` RabbitMQ reads (rabbit_stomp_frame stream_offset_header). */
function isStreamOffset(value: string): boolean {
  if (value === 'first' || value === 'last' || value === 'next') return true;
  if (value.startsWith('offset=')) return isWholeNumber(value.slice('offset='.length), Number.MAX_SAFE_INTEGER);
  if (value.startsWith('timestamp=')) return isWholeNumber(value.slice('timestamp='.length), Number.MAX_SAFE_INTEGER);
  return false;
}

/** Decides how a SEND reaches RabbitMQ (see the module comment). Runs on every publish. */
export function assessPublish(destination: string, headers: StompHeaders): Assessment {
  const parsed = parseDestination(destination);
  const refusal = refuseDestination(parsed, destination, 'SEND');
  if (refusal) return refusal;
  const headerRefusal = publishHeaderRefusal(headers);
  if (headerRefusal) return { verdict: 'refuse', error: headerRefusal };
  switch (parsed.kind) {
    case 'exchange': {
      return BUILTIN_EXCHANGES.has(parsed.exchange) ? SAFE : exchangeProbe(parsed.exchange);
    }
    case 'queue': {
      // A SEND to /queue/ declares the queue, with whatever flags and arguments it carries.
      const exclusive = exclusiveQueue(destination, headers);
      if (exclusive) return exclusive;
      const declaration = queueDeclarationHeaders(headers);
      return {
        verdict: 'probe',
        key: `SUBSCRIBE\n${destination}${headerSignature(declaration)}`,
        target: { destination, headers: declaration },
        lockedVia: `${AMQ_QUEUE_PREFIX}${parsed.name}`,
      };
    }
    default:
      // Topics, built-in exchanges, /amq/queue/ and /reply-queue/ declare nothing; RabbitMQ drops
      // what it cannot route.
      return SAFE;
  }
}

/** The headers of a SEND to `/queue/` that shape the queue's declaration. */
export function queueDeclarationHeaders(headers: StompHeaders): StompHeaders {
  const out: StompHeaders = Object.create(null);
  for (const name of Object.keys(headers)) {
    if (FLAG_HEADERS.has(name) || QUEUE_ARGUMENT_HEADERS.has(name)) out[name] = headers[name];
  }
  return out;
}

/**
 * Refuses a request that would make RabbitMQ declare or consume a queue exclusively for the one
 * (shared) connection it arrives on (subscription-flags.ts isExclusiveQueueRequest). Were the probe
 * to declare it so, the real request would get RESOURCE_LOCKED and a closed pooled connection.
 * The engine gives exclusive SUBSCRIBEs a connection of their session's own
 * (exclusive-connections.ts) before they come here; a SEND that would declare one is refused.
 */
function exclusiveQueue(destination: string, headers: StompHeaders): Assessment | undefined {
  if (!isExclusiveQueueRequest(destination, headers)) return undefined;
  if (stompBoolean(headers.exclusive) === true) {
    return refuse(
      Errors.DESTINATION_NOT_ALLOWED,
      `${destination} with exclusive:true (an exclusive queue belongs to one broker connection, and the relay shares its connections)`,
    );
  }
  return refuse(
    Errors.DESTINATION_NOT_ALLOWED,
    `${destination} with durable:false or persistent:false (RabbitMQ makes that queue exclusive to one broker connection, and the relay shares its connections; add exclusive:false for a shared non-durable queue)`,
  );
}

/** `\nname:value` per header, sorted by name: equal for requests that declare the same things. */
export function headerSignature(headers: StompHeaders): string {
  let out = '';
  for (const name of Object.keys(headers).sort()) out += `\n${name}:${headers[name]}`;
  return out;
}

function refuseDestination(parsed: ParsedDestination, destination: string, command: 'SUBSCRIBE' | 'SEND'): Assessment | undefined {
  switch (parsed.kind) {
    case 'unknown':
      return refuse(
        Errors.DESTINATION_NOT_ALLOWED,
        `${destination} (RabbitMQ knows /topic/, /queue/, /amq/queue/, /exchange/ and /reply-queue/)`,
      );
    case 'temp-queue':
      return refuse(
        Errors.DESTINATION_NOT_ALLOWED,
        `${destination} (a temporary queue is no destination: name it in a SEND's reply-to, and replies arrive by themselves)`,
      );
    case 'reply-queue':
      return command === 'SEND' && parsed.name.length > 0
        ? undefined
        : refuse(Errors.DESTINATION_NOT_ALLOWED, `${destination} (reply queues can only be sent to)`);
    case 'exchange':
      return parsed.exchange.length > 0 ? undefined : refuse(Errors.DESTINATION_NOT_ALLOWED, `${destination} (no exchange name)`);
    default:
      return parsed.name.length > 0 ? undefined : refuse(Errors.DESTINATION_NOT_ALLOWED, `${destination} (no name after the prefix)`);
  }
}

/** Only the exchange's existence matters: one probe serves every routing key, SEND and SUBSCRIBE. */
function exchangeProbe(exchange: string): Assessment {
  const target: ProbeTarget = {
    destination: `${EXCHANGE_PREFIX}${exchange}/stomp-relay.probe`,
    headers: Object.create(null) as StompHeaders,
  };
  return { verdict: 'probe', key: `EXCHANGE\n${exchange}`, target };
}

function refuse(definition: Parameters<typeof relayError>[0], ...args: string[]): Assessment {
  return { verdict: 'refuse', error: relayError(definition, ...args) };
}
