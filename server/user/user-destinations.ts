/**
 * User destinations (Spring's `/user/...`): how a user's subscription and a push to that user meet
 * in the broker, whichever instances they are on.
 *
 * A session of `alice` subscribing to `/user/queue/x` is subscribed, in the broker, to
 * `/exchange/amq.direct/stomp-relay.user.alice.~2Fqueue~2Fx` (see {@link userBrokerDestination});
 * `sendToUser('alice', '/queue/x', ...)` on any instance publishes to that same key. RabbitMQ routes the message only to
 * queues bound with that exact key, so only instances where alice has a session see it
 * (interest-based routing, no broadcast), and the queues are the auto-delete queues of the STOMP
 * plugin's `/exchange` subscriptions, gone when the subscription ends (nothing piles up, unlike
 * Spring's per-session `/queue/x-user{session}` queues).
 *
 * The whole `amq.direct` exchange is reserved for the relay: clients can neither subscribe nor
 * send there (a direct exchange has no wildcards, but reserving it all leaves no spelling to guess).
 * It is the user layer's own reservation (the engines carry user traffic there); the names the
 * engines reserve for themselves are in broker/reserved-names.ts.
 */
import { createHash } from 'node:crypto';
import { percentDecoded } from '../broker/reserved-names';
import { Errors, relayError } from '../errors';
import { REPLY_QUEUE_DESTINATION_PREFIX, TEMP_QUEUE_PREFIX, underPrefix } from '../broker/destinations';
import { INTERNAL_HEADER_PREFIX } from '../session/header-policy';

/** Exchange the relay's internal traffic uses (exists on every RabbitMQ vhost). */
export const INTERNAL_EXCHANGE = 'amq.direct';
/** Destination prefix of all internal traffic; clients are refused anything under it. */
export const INTERNAL_DESTINATION_PREFIX = `/exchange/${INTERNAL_EXCHANGE}/`;

/** Header carried by `sendToSession` messages: only that session of the user receives it. */
export const TARGET_SESSION_HEADER = `${INTERNAL_HEADER_PREFIX}session`;

/**
 * Escapes a string into routing-key-safe characters: `[A-Za-z0-9_-]` stay, every other UTF-8 byte
 * becomes `~HH`. The result never contains `.`, so `.` can separate segments unambiguously, and
 * never `/` or `%`, which RabbitMQ's destination parser treats specially.
 */
export function escapeKeySegment(value: string): string {
  // Most user names need no escaping: skip the byte walk for them (a push to 100 users escapes 100).
  if (SAFE_KEY_SEGMENT.test(value)) return value;
  let out = '';
  const bytes = Buffer.from(value, 'utf8');
  for (const b of bytes) {
    const safe = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x5f || b === 0x2d;
    out += safe ? String.fromCharCode(b) : '~' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** Strings {@link escapeKeySegment} leaves as they are. */
const SAFE_KEY_SEGMENT = /^[A-Za-z0-9_-]*$/;

/** Escaped segments longer than this are replaced by a digest, so every key fits RabbitMQ's 255 bytes. */
const MAX_SEGMENT_CHARS = 64;

/**
 * One routing-key segment: the escaped value, or for long values `~h` + a SHA-256 digest (base64url,
 * routing-key-safe). Deterministic, so every instance computes the same key for the same user.
 */
function keySegment(value: string): string {
  const escaped = escapeKeySegment(value);
  return escaped.length <= MAX_SEGMENT_CHARS ? escaped : '~h' + createHash('sha256').update(value, 'utf8').digest('base64url');
}

function routingKey(kind: string, ...segments: string[]): string {
  // At most 17 + 2 × (64 + 1) characters: always within RabbitMQ's 255-byte limit.
  return ['stomp-relay', kind, ...segments.map(keySegment)].join('.');
}

/**
 * Broker destination where `user`'s messages for `destination` (e.g. `/queue/x`, the part after
 * `/user`) meet.
 */
export function userBrokerDestination(user: string, destination: string): string {
  return userBrokerDestinations(destination)(user);
}

/** {@link routingKey}'s layout for kind `user`, written out so a batch can keep its destination's part. */
const USER_DESTINATION_HEAD = `${INTERNAL_DESTINATION_PREFIX}stomp-relay.user.`;

/**
 * {@link userBrokerDestination} of one `destination` for many users (`POST /push`): the
 * destination's key segment is escaped once, not once per user.
 */
export function userBrokerDestinations(destination: string): (user: string) => string {
  const tail = `.${keySegment(destination)}`;
  return (user) => USER_DESTINATION_HEAD + keySegment(user) + tail;
}

/**
 * Broker destination of an anonymous session's own user destinations: as in Spring, a session
 * without a user is its own, keyed by its session id (`sendToSession(null, sessionId, …)` publishes
 * here). A key kind of its own, so no user name, whatever it is, can reach it.
 */
export function sessionBrokerDestination(sessionId: string, destination: string): string {
  return INTERNAL_DESTINATION_PREFIX + routingKey('session', sessionId, destination);
}

/** Where a session's own `/user/…` destination meets: its user's, or, anonymous, its session's. */
export function ownBrokerDestination(user: string | undefined, sessionId: string, destination: string): string {
  return user !== undefined ? userBrokerDestination(user, destination) : sessionBrokerDestination(sessionId, destination);
}

/** Broker destination of the presence registry every instance publishes to and reads. */
export const REGISTRY_DESTINATION = INTERNAL_DESTINATION_PREFIX + 'stomp-relay.registry';

/** Broker destination of session control (end a user's sessions on every instance; session-control.ts). */
export const CONTROL_DESTINATION = INTERNAL_DESTINATION_PREFIX + 'stomp-relay.control';

/**
 * The relayed prefixes that make sense inside a user's space (`/user/queue/x`, `/user/topic/x`...):
 * all but temporary and reply queues, which belong to one session already.
 */
export function userDestinationPrefixes(relayPrefixes: readonly string[]): string[] {
  return relayPrefixes.filter((p) => p !== TEMP_QUEUE_PREFIX && p !== REPLY_QUEUE_DESTINATION_PREFIX);
}

export interface ParsedUserDestination {
  /** The user named in `/user/{name}/...`, or undefined for the subscriber form `/user/queue/x`. */
  user: string | undefined;
  /** The destination inside the user's space, e.g. `/queue/x`. */
  destination: string;
}

/**
 * Splits a client user destination. `/user/queue/x` (own user) and `/user/{name}/queue/x` (a named
 * user; names are URL-encoded when they contain `/`). The inner destination must start with one of
 * `innerPrefixes` (the relayed prefixes), else DESTINATION_NOT_ALLOWED.
 */
export function parseUserDestination(destination: string, userPrefix: string, innerPrefixes: readonly string[]): ParsedUserDestination {
  const rest = '/' + destination.slice(userPrefix.length);
  if (underPrefix(rest, innerPrefixes)) return { user: undefined, destination: rest };
  const slash = rest.indexOf('/', 1);
  if (slash > 1) {
    const inner = rest.slice(slash);
    let name: string;
    try {
      name = decodeURIComponent(rest.slice(1, slash));
    } catch {
      throw relayError(Errors.DESTINATION_NOT_ALLOWED, destination);
    }
    if (name && underPrefix(inner, innerPrefixes)) return { user: name, destination: inner };
  }
  throw relayError(Errors.DESTINATION_NOT_ALLOWED, destination);
}

/**
 * True when a client-supplied destination reaches the relay's internal namespace. Percent-escapes
 * are decoded first, since RabbitMQ decodes them in destination names. (Queue names the relay and
 * RabbitMQ generate are refused by the engines themselves: broker/reserved-names.ts.)
 */
export function isInternalDestination(destination: string): boolean {
  const normalized = percentDecoded(destination);
  // Undecodable: refuse rather than guess what the broker would make of it.
  if (normalized === undefined) return true;
  return normalized.startsWith(INTERNAL_DESTINATION_PREFIX) || normalized === INTERNAL_DESTINATION_PREFIX.slice(0, -1);
}
