/**
 * One read of one history stream, serving a batch of replays at once (stream-history.ts coalesces
 * them): consume the stream from a start time up to a fence message published after every replay
 * of the batch was asked, and pick out each replay's messages on the way.
 *
 * Why a fence: a stream consumer never "ends"; the fence, published after the replays were asked,
 * is behind every message recorded before them (a record resolves on the stream's confirm), so
 * reading until it is read is reading everything the replays must return.
 *
 * Per message: one map lookup by token (a replay's own token: what follows is what it wants; what
 * it collected before is dropped) and one by destination. Each replay keeps the newest messages,
 * at most twice `maxMessages` at any time (the caller trims to `maxMessages`; more means a gap).
 */
import type { Channel, ConsumeMessage } from 'amqplib';
import type { BrokerMessage } from '../../broker';
import { RESUME_TOKEN_HEADER } from '../../history';
import { messageHeaders } from './amqp-message';
import { tokenTime } from './history-token';

/** AMQP headers of a recorded message (and of fences): never shown to clients. */
export const HISTORY_TOKEN_HEADER = 'x-stomp-relay-history-token';
export const HISTORY_DESTINATION_HEADER = 'x-stomp-relay-history-destination';
/** Unacked deliveries a scan lets the stream send ahead (basic.qos). */
const SCAN_PREFETCH = 1000;
/** Acks (they only grant the stream credit) go cumulatively, this often. */
const ACK_EVERY = 200;

/** One replay waiting for a scan. */
export interface ScanRequest {
  readonly destination: string;
  /** The token to read after; undefined when it was not a valid token (then nothing is collected). */
  readonly token: string | undefined;
  /** Record time of the token; messages after it count while the token itself was not seen. */
  readonly after: number;
  /** The token is older than the window: a gap whatever is found. */
  readonly expired: boolean;
  found: boolean;
  overflow: boolean;
  messages: BrokerMessage[];
}

export interface ScanOutcome {
  /** True when the fence was read: every request saw everything before it. */
  complete: boolean;
  /** Messages read from the stream (fences and other destinations included). */
  scanned: number;
}

/**
 * Reads `stream` on `channel` (a channel of its own: a scan's failure must not touch the link's
 * shared channels) from `startMs` until the message carrying `fenceToken`, feeding `requests`.
 * Resolves complete: false when the channel closes or the consumer is cancelled before the fence.
 */
export async function scanStream(
  channel: Channel, stream: string, startMs: number, fenceToken: string, requests: readonly ScanRequest[], maxMessages: number,
): Promise<ScanOutcome> {
  const byToken = new Map<string, ScanRequest[]>();
  const byDestination = new Map<string, ScanRequest[]>();
  for (const request of requests) {
    request.found = false;
    request.overflow = false;
    request.messages = [];
    if (request.token === undefined) continue;
    push(byToken, request.token, request);
    push(byDestination, request.destination, request);
  }
  let scanned = 0;
  return new Promise<ScanOutcome>((resolve) => {
    let done = false;
    const finish = (complete: boolean): void => {
      if (done) return;
      done = true;
      resolve({ complete, scanned });
    };
    channel.on('close', () => finish(false));
    channel.on('error', () => finish(false));
    const onMessage = (msg: ConsumeMessage | null): void => {
      if (done) return;
      if (msg === null) return finish(false); // cancelled by the broker (the stream was deleted)
      scanned++;
      if (scanned % ACK_EVERY === 0) {
        try { channel.ack(msg, true); } catch { /* the channel is closing: finish() follows */ }
      }
      const table = msg.properties.headers;
      const token = table?.[HISTORY_TOKEN_HEADER];
      if (typeof token !== 'string') return;
      if (token === fenceToken) return finish(true);
      for (const request of byToken.get(token) ?? NONE) {
        // What came before its own token is not "after" it, whatever the clocks said.
        request.found = true;
        request.overflow = false;
        request.messages = [];
      }
      const destination = table?.[HISTORY_DESTINATION_HEADER];
      if (typeof destination !== 'string') return; // a fence of another replay
      const wanting = byDestination.get(destination);
      if (wanting === undefined) return;
      let message: BrokerMessage | undefined;
      let at: number | undefined;
      for (const request of wanting) {
        if (token === request.token) continue;
        if (!request.found) {
          at ??= tokenTime(token) ?? 0;
          if (at <= request.after) continue;
        }
        message ??= historyMessage(msg, destination, token);
        request.messages.push(message);
        // Bounded without shifting per message: trimmed to the newest maxMessages now and then
        // (and by the caller at the end).
        if (request.messages.length >= 2 * maxMessages) {
          request.overflow = true;
          request.messages.splice(0, request.messages.length - maxMessages);
        }
      }
    };
    channel.prefetch(SCAN_PREFETCH)
      .then(() => channel.consume(stream, onMessage, {
        noAck: false,
        // A timestamp offset: RabbitMQ attaches at the first chunk written at or after it (seconds).
        arguments: { 'x-stream-offset': { '!': 'timestamp', value: Math.max(0, Math.floor(startMs / 1000)) } },
      }))
      .catch(() => finish(false));
  });
}

/** A recorded message as a replay returns it: the headers it was published with, and its token. */
function historyMessage(msg: ConsumeMessage, destination: string, token: string): BrokerMessage {
  const headers = messageHeaders(msg);
  for (const name of Object.keys(headers)) {
    if (name.startsWith('x-stomp-relay-history-') || name.startsWith('x-stream-')) delete headers[name];
  }
  headers[RESUME_TOKEN_HEADER] = token;
  return { destination, headers, body: msg.content, messageId: `history-${token}` };
}

function push(map: Map<string, ScanRequest[]>, key: string, request: ScanRequest): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [request]);
  else list.push(request);
}

const NONE: readonly ScanRequest[] = [];
