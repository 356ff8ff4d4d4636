/**
 * Message history: the optional broker capability behind resume (`resume-from`, docs/protocol.md
 * "Resume"). A publisher records a user-destination message before it routes it; a subscriber that
 * lost its connection asks for what was recorded after the last message it saw.
 *
 * The capability is optional ({@link Broker.history}): an engine without it, or with history turned
 * off (`RESUME_WINDOW_MS=0`), makes every resume a gap, which is the honest answer.
 *
 * ## The guarantee, and the caller's duty
 * - {@link MessageHistory.record} resolves with a token once the message is recorded (RabbitMQ: the
 *   stream confirmed it). The publisher then publishes the message with that token in its
 *   {@link RESUME_TOKEN_HEADER} header, and only then: a message is always recorded before it can be
 *   delivered live.
 * - {@link MessageHistory.replay}, called once the subscription to the same destination is in effect
 *   (its `subscribe` resolved), returns every message recorded after the token and before the call,
 *   in record order, unless it reports a gap. A message recorded after the call is delivered live.
 *   A message may come both ways (recorded before the call, routed after it): the caller drops live
 *   messages whose token the replay returned. Together: nothing lost, nothing twice.
 * - A gap means the history could not vouch for everything after the token: older than the window,
 *   more than `maxMessages` since, from another epoch (history lost or reset), forged, or history
 *   unavailable. The replay then still returns the newest messages it has after the token.
 */
import type { StompHeaders } from '../codec/frame';
import type { BrokerMessage } from './broker';

/** Header of every recorded message, as delivered: its position in its destination's history. */
export const RESUME_TOKEN_HEADER = 'resume-token';
/** SUBSCRIBE header naming the last token the client saw. */
export const RESUME_FROM_HEADER = 'resume-from';
/** Header (`true`) of the empty MESSAGE that opens a resumed subscription whose history has a gap. */
export const RESUME_GAP_HEADER = 'resume-gap';

/** What a publisher records: the message as it will be published, before its token is added. */
export interface RecordedMessage {
  /** The headers the message will be published with (the engine adds {@link RESUME_TOKEN_HEADER}). */
  headers: StompHeaders;
  /** Its body, as published. */
  body: Buffer;
}

/** What {@link MessageHistory.replay} found after a token. */
export interface Replay {
  /** True when the history cannot vouch for every message after the token (see the module doc). */
  gap: boolean;
  /**
   * Messages recorded after the token, oldest first, at most {@link MessageHistory.maxMessages}
   * (the newest ones on a gap). Each has its {@link RESUME_TOKEN_HEADER} header.
   */
  messages: BrokerMessage[];
  /**
   * A token for the end of what the replay covered: resuming from it continues exactly there. The
   * last message's token when there are messages; otherwise a marker's, or undefined when the
   * history could not say (unavailable).
   */
  position?: string;
}

/** Optional capability of a {@link Broker}: bounded, ordered history per destination. */
export interface MessageHistory {
  /** How long a message stays replayable (ms). Tokens older than this are a gap. */
  readonly windowMs: number;
  /** Most messages one destination's history keeps and one replay returns. */
  readonly maxMessages: number;
  /**
   * Records `message` in `destination`'s history. Resolves with its token (opaque, unique, in
   * record order for the destination) once recorded. Rejects with BROKER_UNAVAILABLE when the
   * history cannot take it: the caller must then not publish it as if it were resumable.
   */
  record(destination: string, message: RecordedMessage): Promise<string>;
  /**
   * The messages recorded for `destination` after `token` (see the module doc for when to call it).
   * Never rejects: a history it cannot read is a gap.
   */
  replay(destination: string, token: string): Promise<Replay>;
  /**
   * A token for "now" in `destination`'s history: resuming from it later replays exactly what is
   * recorded after this call. For a subscription that has received nothing yet (its RECEIPT
   * carries it), so a client that drops before its first message can still resume. Undefined when
   * the history cannot say (then that client's resume is a gap).
   */
  position(destination: string): Promise<string | undefined>;
}

/**
 * The publisher's duty above, in one place: records `request` in `history`, then puts its token on
 * the request's headers, so it can be published as resumable. Rejects as {@link MessageHistory.record}.
 */
export async function recordBeforePublish(
  history: MessageHistory,
  request: { destination: string; headers: StompHeaders; body: Buffer },
): Promise<void> {
  request.headers[RESUME_TOKEN_HEADER] = await history.record(request.destination, request);
}

/** Settings both engines' histories take (RelayConfig `resume*`). */
export interface HistoryOptions {
  /** RESUME_WINDOW_MS; 0 turns history off (no capability). */
  windowMs: number;
  /** RESUME_MAX_MESSAGES. */
  maxMessages: number;
}
