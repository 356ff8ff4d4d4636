/**
 * Reading a history stream for replays (stream-history.ts decides when): a {@link PartitionReader}
 * consumes one stream from a start time and keeps what it read; a batch of replays publishes a
 * fence and, once the reader has read it, {@link collect} picks out each replay's messages from
 * what was read before the fence.
 *
 * Why a fence: a stream consumer never "ends"; the fence, published after the replays were asked,
 * is behind every message recorded before them (a record resolves on the stream's confirm), so
 * what was read before it is everything the replays must return.
 *
 * Why a reader that stays: in a reconnect storm the replays of one partition trickle in over
 * seconds, all with tokens from before the instance died. A reader per batch would read the same
 * stretch of the stream again for every batch (cost: batches × stretch); one reader that goes on
 * tailing the stream, and keeps what it read (bounded), serves every later batch whose start it
 * covers with a fence and a pass over memory. It closes after a quiet spell.
 */
import type { Channel, ConsumeMessage } from 'amqplib';
import type { BrokerMessage } from '../../broker';
import { RESUME_TOKEN_HEADER } from '../../history';
import { messageHeaders } from './amqp-message';
import { tokenTime } from './history-token';

/** AMQP headers of a recorded message (and of fences): never shown to clients. */
export const HISTORY_TOKEN_HEADER = 'x-stomp-relay-history-token';
export const HISTORY_DESTINATION_HEADER = 'x-stomp-relay-history-destination';
/** Unacked deliveries a reader lets the stream send ahead (basic.qos). */
const READ_PREFETCH = 1000;
/** Acks (they only grant the stream credit) go cumulatively, this often. */
const ACK_EVERY = 200;

/** One replay waiting for a read. */
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

/** What a reader keeps of each message read: enough to match it, and the message itself. */
export interface ReadEntry {
  readonly token: string;
  /** Undefined for fences. */
  readonly destination: string | undefined;
  readonly msg: ConsumeMessage;
}

export interface PartitionReaderOptions {
  /** Most entries kept; beyond it the oldest half goes (a replay whose token went is a gap). */
  maxEntries: number;
  /** Messages read, for metrics. */
  onRead(count: number): void;
}

/**
 * Consumes one stream, on a channel of its own (its failure must not touch the link's shared
 * channels), from `start` (ms; RabbitMQ attaches a timestamp offset at the first chunk written at
 * or after it, in seconds), keeping what it reads until closed.
 */
export class PartitionReader {
  /** Entries read, oldest first; `entries[i]` is the `dropped + i`-th read. */
  private entries: ReadEntry[] = [];
  private dropped = 0;
  private readonly fences = new Map<string, (position: number | undefined) => void>();
  private isClosed = false;
  /** True once something was dropped for the bound: the reader no longer covers its start. */
  private trimmed = false;

  private constructor(
    private readonly channel: Channel,
    readonly start: number,
    private readonly options: PartitionReaderOptions,
  ) {}

  /** Opens a reader of `stream` from `start`; rejects when the consumer cannot be set up. */
  static async open(channel: Channel, stream: string, start: number, options: PartitionReaderOptions): Promise<PartitionReader> {
    const reader = new PartitionReader(channel, start, options);
    channel.on('close', () => reader.close());
    channel.on('error', () => reader.close());
    try {
      await channel.prefetch(READ_PREFETCH);
      await channel.consume(stream, (msg) => reader.onMessage(msg), {
        noAck: false,
        arguments: { 'x-stream-offset': { '!': 'timestamp', value: Math.max(0, Math.floor(start / 1000)) } },
      });
    } catch (err) {
      reader.close();
      throw err;
    }
    return reader;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** True while it holds everything from its start: it can serve a replay that starts at `start` or later. */
  covers(start: number): boolean {
    return !this.isClosed && !this.trimmed && this.start <= start;
  }

  /**
   * Resolves with the position (count of entries read before it) once the fence `token` is read,
   * or undefined when the reader closes first.
   */
  awaitFence(token: string): Promise<number | undefined> {
    if (this.isClosed) return Promise.resolve(undefined);
    return new Promise((resolve) => this.fences.set(token, resolve));
  }

  /** Gives up waiting for a fence (it was not published). */
  forgetFence(token: string): void {
    const waiter = this.fences.get(token);
    this.fences.delete(token);
    waiter?.(undefined);
  }

  /** The entries read before `position` that are still kept. */
  before(position: number): ReadEntry[] {
    return this.entries.slice(0, Math.max(0, position - this.dropped));
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.entries = [];
    for (const waiter of this.fences.values()) waiter(undefined);
    this.fences.clear();
    this.channel.close().catch(() => undefined);
  }

  private onMessage(msg: ConsumeMessage | null): void {
    if (this.isClosed) return;
    if (msg === null) return this.close(); // cancelled by the broker (the stream was deleted)
    const read = this.dropped + this.entries.length + 1;
    if (read % ACK_EVERY === 0) {
      try {
        this.channel.ack(msg, true);
      } catch {
        /* the channel is closing: close() follows */
      }
    }
    this.options.onRead(1);
    const table = msg.properties.headers;
    const token = table?.[HISTORY_TOKEN_HEADER];
    if (typeof token !== 'string') return;
    const destination = table?.[HISTORY_DESTINATION_HEADER];
    this.entries.push({ token, destination: typeof destination === 'string' ? destination : undefined, msg });
    if (this.entries.length > this.options.maxEntries) {
      const cut = Math.floor(this.entries.length / 2);
      this.entries.splice(0, cut);
      this.dropped += cut;
      this.trimmed = true;
    }
    const waiter = this.fences.get(token);
    if (waiter !== undefined) {
      this.fences.delete(token);
      waiter(this.dropped + this.entries.length - 1);
    }
  }
}

/**
 * Fills each request from `entries` (in stream order): one map lookup by token (a replay's own
 * token: what follows is what it wants; what it collected before is dropped) and one by
 * destination per entry. Each request keeps the newest messages, at most twice `maxMessages` at any
 * time (the caller trims to `maxMessages`; more means a gap).
 */
export function collect(entries: readonly ReadEntry[], requests: readonly ScanRequest[], maxMessages: number): void {
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
  if (byToken.size === 0) return;
  for (const { token, destination, msg } of entries) {
    for (const request of byToken.get(token) ?? NONE) {
      // What came before its own token is not "after" it, whatever the clocks said.
      request.found = true;
      request.overflow = false;
      request.messages = [];
    }
    if (destination === undefined) continue; // a fence
    const wanting = byDestination.get(destination);
    if (wanting === undefined) continue;
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
      // Bounded without shifting per message: trimmed to the newest maxMessages now and then.
      if (request.messages.length >= 2 * maxMessages) {
        request.overflow = true;
        request.messages.splice(0, request.messages.length - maxMessages);
      }
    }
  }
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
