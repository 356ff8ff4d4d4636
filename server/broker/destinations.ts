/**
 * The destination prefixes both engines serve and how a destination splits into them: one reading
 * for the embedded broker (memory/destination.ts), the RabbitMQ engine's request sorting
 * (rabbitmq/request-risk.ts), the reserved-name checks and the session's router. Names follow
 * RabbitMQ's STOMP plugin (https://www.rabbitmq.com/docs/stomp#d); what each engine makes of a
 * parsed destination stays its own.
 *
 * Pure functions, no regular expressions: {@link parseDestination} runs on every publish.
 */

export const TOPIC_PREFIX = '/topic/';
export const QUEUE_PREFIX = '/queue/';
export const AMQ_QUEUE_PREFIX = '/amq/queue/';
export const EXCHANGE_PREFIX = '/exchange/';
/**
 * Destinations replies to a reply address are sent to (RabbitMQ's name for them): SEND only. The
 * queue name that follows is under broker.ts's `REPLY_QUEUE_NAME_PREFIX`.
 */
export const REPLY_QUEUE_DESTINATION_PREFIX = '/reply-queue/';
/** RabbitMQ's temporary queues: never a destination, only a client SEND's `reply-to` (session/temp-queues.ts). */
export const TEMP_QUEUE_PREFIX = '/temp-queue/';

/** The relay prefixes served by default (config.ts `relayPrefixes`). */
export const BROKER_DESTINATION_PREFIXES: readonly string[] = [
  TOPIC_PREFIX,
  QUEUE_PREFIX,
  EXCHANGE_PREFIX,
  AMQ_QUEUE_PREFIX,
  TEMP_QUEUE_PREFIX,
  REPLY_QUEUE_DESTINATION_PREFIX,
];

export type DestinationKind = 'topic' | 'queue' | 'amq-queue' | 'reply-queue' | 'temp-queue' | 'exchange';

/** Where a destination points, by its prefix; `name` is what follows the prefix (possibly empty). */
export type ParsedDestination =
  | { readonly kind: Exclude<DestinationKind, 'exchange'>; readonly name: string }
  /** `name` is `<exchange>` or `<exchange>/<key>`; `exchange` the part before the first `/`. */
  | { readonly kind: 'exchange'; readonly name: string; readonly exchange: string }
  | { readonly kind: 'unknown'; readonly name: string };

const PREFIXES: ReadonlyArray<readonly [string, DestinationKind]> = [
  [TOPIC_PREFIX, 'topic'],
  [QUEUE_PREFIX, 'queue'],
  [AMQ_QUEUE_PREFIX, 'amq-queue'],
  [EXCHANGE_PREFIX, 'exchange'],
  [REPLY_QUEUE_DESTINATION_PREFIX, 'reply-queue'],
  [TEMP_QUEUE_PREFIX, 'temp-queue'],
];

/** Splits `destination` into its prefix's kind and the rest; `unknown` (and the whole string) for other prefixes. */
export function parseDestination(destination: string): ParsedDestination {
  for (const [prefix, kind] of PREFIXES) {
    if (!destination.startsWith(prefix)) continue;
    const name = destination.slice(prefix.length);
    if (kind !== 'exchange') return { kind, name };
    const slash = name.indexOf('/');
    return { kind, name, exchange: slash < 0 ? name : name.slice(0, slash) };
  }
  return { kind: 'unknown', name: destination };
}

/** True for a `/temp-queue/...` string (a destination or a `reply-to`). */
export function isTempQueue(destination: string): boolean {
  return destination.startsWith(TEMP_QUEUE_PREFIX);
}

/** True when `destination` is under one of `prefixes` and names something below it. */
export function underPrefix(destination: string, prefixes: readonly string[]): boolean {
  for (const prefix of prefixes) {
    if (destination.length > prefix.length && destination.startsWith(prefix)) return true;
  }
  return false;
}
