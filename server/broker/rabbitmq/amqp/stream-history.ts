/**
 * The RabbitMQ engine's message history ({@link MessageHistory}, broker/history.ts): recorded in
 * RabbitMQ streams over the instance's AMQP link, so it outlives the instance that recorded it and
 * any instance can replay it.
 *
 * ## Broker state O(partitions)
 * `partitions` durable streams, `stomp-relay.history.<p>` (a reserved name: no client can read or
 * write them), declared idempotently by every instance when its AMQP link comes up. A destination
 * lives in partition hash(destination) mod P (history-token.ts); messages of all users of a
 * partition share its stream, each carrying its destination and token in AMQP headers. Retention:
 * `x-max-age` = window + {@link RETENTION_MARGIN_MS}, in small segments
 * ({@link SEGMENT_BYTES}) so it is applied in fine steps; a stream never holds more than that.
 *
 * ## Record
 * Published on the link's confirm channel (mandatory) to the default exchange with the stream as
 * routing key; resolves on RabbitMQ's confirm, i.e. once the stream holds it. Rejects
 * BROKER_UNAVAILABLE when the link is down or the stream is missing (a basic.return).
 *
 * ## Replay
 * A read of the destination's stream from the token's time (minus {@link CLOCK_SKEW_MS}: RabbitMQ
 * attaches a timestamp offset at chunk granularity, by its own clock) to a fence message published
 * once the replay was asked (stream-scan.ts). The token itself is looked up, never believed: what
 * follows it is the replay; a token not found in the stream (forged, from a stream since deleted,
 * older than retention) is a gap, with the messages recorded after its time.
 *
 * A reconnect storm asks for many replays of each partition at once: they are coalesced. While a
 * scan of a partition runs, new replays of it wait; the next scan serves all of them with one
 * fence, from the earliest start, and starts no sooner than {@link SCAN_SPACING_MS} after the
 * previous one. The partition's stream reader stays open {@link READER_LINGER_MS} after a batch,
 * tailing the stream and keeping what it read (bounded): a later batch whose start it covers costs
 * a fence and a pass over memory, not another read (stream-scan.ts). So a storm costs about one
 * stream read per partition per instance, and `stomp_relay_history_scans_total` counts readers.
 *
 * A scan that loses the link (broker restart) starts over once it is back, within
 * {@link StreamHistoryOptions.scanTimeoutMs}; one that does not reach its fence by then is a gap.
 * History never gates readiness: streams that cannot be declared (RabbitMQ without streams, < 3.9)
 * are logged at warn; records are then refused and replays are gaps.
 */
import type { StompHeaders } from '../../../codec/frame';
import { Errors, relayError } from '../../../errors';
import type { Logger } from '../../../observability/logger';
import type { RelayMetrics } from '../../../observability/metrics';
import type { BrokerMessage } from '../../broker';
import { RESUME_TOKEN_HEADER, type MessageHistory, type RecordedMessage, type Replay } from '../../history';
import type { AmqpSession } from './amqp-link';
import { publishOptions } from './amqp-message';
import { TokenIssuer, parseToken, partitionOf } from './history-token';
import { HISTORY_DESTINATION_HEADER, HISTORY_TOKEN_HEADER, PartitionReader, collect, type ScanRequest } from './stream-scan';

/** Prefix of the history streams' names (under the reserved `stomp-relay.`). */
export const HISTORY_STREAM_PREFIX = 'stomp-relay.history.';
/** How far a replay starts reading before its token's time: clock skew between hosts, chunk and second granularity. */
export const CLOCK_SKEW_MS = 5000;
/** Retention beyond the window, so a token at the window's edge is still found. */
const RETENTION_MARGIN_MS = 60_000;
/** Stream segment size: retention drops whole segments, so small ones keep disk close to the window. */
const SEGMENT_BYTES = 4_000_000;
/** How often declaring the streams is tried again after it failed, at most. */
const REDECLARE_AFTER_MS = 5000;
/** How long declaring the streams is retried on one link before records are refused (broker restarts). */
const DECLARE_PATIENCE_MS = 10_000;
/**
 * Least time between the starts of two scans of one partition on one instance. Each scan costs
 * RabbitMQ a stream reader (≈ 25 ms of broker CPU to attach, measured in bench/resume.ts), so a
 * storm is served by few scans of many replays; a lone resume waits for nothing.
 */
const SCAN_SPACING_MS = 250;
/**
 * How long a partition's reader stays open after its last batch: a reconnect storm's later
 * replays are served by it (a fence and a pass over memory) instead of reading the stream again.
 */
const READER_LINGER_MS = 5000;
/** Most messages a reader keeps (≈ 1 KB each with small pushes); a storm longer than that reads again. */
const MAX_READ_ENTRIES = 100_000;
/** A scan's attempts on one link (a second one after redeclaring a stream found missing). */
const ATTEMPTS_PER_LINK = 2;

export interface StreamHistoryOptions {
  windowMs: number;
  maxMessages: number;
  /** How many streams (RESUME_PARTITIONS). */
  partitions: number;
  /** Bound on one scan, retries after a lost link included; beyond it the replay is a gap. Default 10 000 ms. */
  scanTimeoutMs?: number;
  logger: Logger;
  metrics?: RelayMetrics;
}

interface Waiting {
  readonly request: ScanRequest;
  /** Where this replay wants the stream read from (ms). */
  readonly start: number;
  readonly resolve: (replay: Replay) => void;
}

interface Partition {
  pending: Waiting[];
  running: boolean;
  /** When its last scan started (ms). */
  lastStart: number;
  /** The reader kept for the next batch (stream-scan.ts), on the link it was opened on. */
  reader?: { session: AmqpSession; reader: PartitionReader };
  lingerTimer?: NodeJS.Timeout;
}

interface Declaration {
  readonly session: AmqpSession;
  readonly at: number;
  readonly usable: Promise<boolean>;
}

export class StreamHistory implements MessageHistory {
  readonly windowMs: number;
  readonly maxMessages: number;
  private readonly partitionCount: number;
  private readonly scanTimeoutMs: number;
  private readonly issuer: TokenIssuer;
  private readonly partitions: Partition[];
  private session: AmqpSession | undefined;
  private declaration: Declaration | undefined;
  /** Tokens of publishes RabbitMQ returned (no such stream); read by their confirm. */
  private readonly returned = new Set<string>();
  private linkWaiters: Array<() => void> = [];
  private stopped = false;

  constructor(private readonly options: StreamHistoryOptions) {
    const { partitions } = options;
    if (!Number.isInteger(partitions) || partitions < 1 || partitions > 64) {
      throw relayError(Errors.INVALID_CONFIG, `history partitions must be a whole number 1-64, got ${partitions}`);
    }
    this.windowMs = options.windowMs;
    this.maxMessages = options.maxMessages;
    this.partitionCount = partitions;
    this.scanTimeoutMs = options.scanTimeoutMs ?? 10_000;
    this.issuer = new TokenIssuer(partitions);
    this.partitions = Array.from({ length: partitions }, () => ({ pending: [], running: false, lastStart: 0 }));
  }

  /** The stream of partition `p`. */
  static streamName(p: number): string {
    return `${HISTORY_STREAM_PREFIX}${p}`;
  }

  /** The AMQP link is up: declare the streams (in the background: history does not gate readiness). */
  linkUp(session: AmqpSession): void {
    if (this.stopped) return;
    this.session = session;
    session.confirms.on('return', (msg: { properties: { headers?: Record<string, unknown> } }) => {
      const token = msg.properties.headers?.[HISTORY_TOKEN_HEADER];
      if (typeof token === 'string') this.returned.add(token);
    });
    this.declare(session);
    const waiters = this.linkWaiters;
    this.linkWaiters = [];
    for (const wake of waiters) wake();
  }

  linkDown(): void {
    this.session = undefined;
    this.declaration = undefined;
    this.returned.clear();
  }

  /** The broker stops: waiting replays end (as gaps), nothing new starts. */
  stop(): void {
    this.stopped = true;
    this.linkDown();
    for (const state of this.partitions) {
      clearTimeout(state.lingerTimer);
      state.reader?.reader.close();
      state.reader = undefined;
    }
    const waiters = this.linkWaiters;
    this.linkWaiters = [];
    for (const wake of waiters) wake();
  }

  async record(destination: string, message: RecordedMessage): Promise<string> {
    const session = this.session;
    if (session === undefined || this.stopped)
      throw relayError(Errors.BROKER_UNAVAILABLE, 'no AMQP connection to RabbitMQ for the history; retrying');
    if (!(await this.usable(session)))
      throw relayError(Errors.BROKER_UNAVAILABLE, 'the history streams could not be declared (see the log)');
    const partition = partitionOf(destination, this.partitionCount);
    const token = this.issuer.next(partition, Date.now());
    await this.publish(session, partition, message.headers, message.body, {
      [HISTORY_DESTINATION_HEADER]: destination,
      [HISTORY_TOKEN_HEADER]: token,
    });
    this.options.metrics?.historyRecords.inc();
    return token;
  }

  /**
   * A marker of its own in the destination's partition, confirmed: replays from its token find it
   * in the stream, so they start exactly there. One stream write per call (a SUBSCRIBE's RECEIPT).
   */
  async position(destination: string): Promise<string | undefined> {
    const session = this.session;
    if (session === undefined || this.stopped || !(await this.usable(session))) return undefined;
    const partition = partitionOf(destination, this.partitionCount);
    const token = this.issuer.next(partition, Date.now());
    try {
      await this.publish(session, partition, EMPTY_HEADERS, EMPTY, { [HISTORY_TOKEN_HEADER]: token });
      return token;
    } catch {
      return undefined;
    }
  }

  replay(destination: string, token: string): Promise<Replay> {
    const now = Date.now();
    const parsed = parseToken(token, this.partitionCount, now, CLOCK_SKEW_MS);
    const expired = parsed !== undefined && now - parsed.at > this.windowMs;
    const request: ScanRequest = {
      destination,
      token: parsed === undefined ? undefined : token,
      after: parsed?.at ?? now,
      expired,
      found: false,
      overflow: false,
      messages: [],
    };
    // Not ours: nothing to collect, but the scan's fence still gives the client a position to
    // resume from next time. Older than the window: read what the window still has.
    const start = parsed === undefined ? now : Math.max(parsed.at, now - this.windowMs);
    const partition = partitionOf(destination, this.partitionCount);
    return new Promise<Replay>((resolve) => {
      if (this.stopped) return resolve({ gap: true, messages: [] });
      this.partitions[partition].pending.push({ request, start: start - CLOCK_SKEW_MS, resolve });
      this.drain(partition);
    });
  }

  // --- scans ---

  /**
   * Starts the next scan of `partition` unless one runs or is about to: it serves every replay
   * waiting then. It starts on the next turn of the event loop, so the replays of one burst (the
   * SUBSCRIBEs of many reconnecting clients read from their sockets together) share it, and no
   * sooner than {@link SCAN_SPACING_MS} after the previous one started: a storm of resumes costs
   * the broker at most one stream reader per partition and spacing, however many clients.
   */
  private drain(partition: number): void {
    const state = this.partitions[partition];
    if (state.running || state.pending.length === 0 || this.stopped) {
      if (this.stopped) for (const waiting of state.pending.splice(0)) waiting.resolve({ gap: true, messages: [] });
      return;
    }
    state.running = true;
    const wait = state.lastStart + SCAN_SPACING_MS - Date.now();
    if (wait > 0) setTimeout(() => this.startScan(partition, state), wait);
    else setImmediate(() => this.startScan(partition, state));
  }

  private startScan(partition: number, state: Partition): void {
    state.lastStart = Date.now();
    const batch = state.pending;
    state.pending = [];
    void this.scan(partition, state, batch)
      .catch((err: unknown) => {
        this.options.logger.error({ err }, 'history scan failed');
        for (const waiting of batch) waiting.resolve({ gap: true, messages: [] });
      })
      .finally(() => {
        state.running = false;
        this.drain(partition);
      });
  }

  private async scan(partition: number, state: Partition, batch: Waiting[]): Promise<void> {
    const deadline = Date.now() + this.scanTimeoutMs;
    const requests = batch.map((w) => w.request);
    const start = Math.min(...batch.map((w) => w.start));
    let complete = false;
    let fence: string | undefined;
    let attemptsOnLink = 0;
    let lastSession: AmqpSession | undefined;
    while (!complete && !this.stopped && Date.now() < deadline) {
      const session = await this.linkBefore(deadline);
      if (session === undefined) break;
      attemptsOnLink = session === lastSession ? attemptsOnLink + 1 : 1;
      lastSession = session;
      if (attemptsOnLink > ATTEMPTS_PER_LINK) break;
      if (!(await this.usable(session))) break;
      fence = this.issuer.next(partition, Date.now());
      complete = await this.readUpTo(session, partition, state, start, fence, requests, deadline);
    }
    for (const waiting of batch) waiting.resolve(this.outcome(waiting.request, complete, fence));
    this.lingerReader(state);
  }

  /**
   * Reads the partition up to `fence` and fills `requests`: with the partition's reader when it
   * covers `start` (a fence and a pass over what it read), else with a new one from `start`.
   */
  private async readUpTo(
    session: AmqpSession,
    partition: number,
    state: Partition,
    start: number,
    fence: string,
    requests: ScanRequest[],
    deadline: number,
  ): Promise<boolean> {
    const stream = StreamHistory.streamName(partition);
    let entry = state.reader;
    if (entry === undefined || entry.session !== session || !entry.reader.covers(start)) {
      entry?.reader.close();
      state.reader = undefined;
      let channel;
      try {
        channel = await session.connection.createChannel();
      } catch {
        return false; // the connection is closing: the next link takes over
      }
      channel.on('error', (err: Error) => this.options.logger.debug({ err: err.message, stream }, 'history reader channel error'));
      try {
        const reader = await PartitionReader.open(channel, stream, start, {
          maxEntries: MAX_READ_ENTRIES,
          onRead: (n) => this.options.metrics?.historyScannedMessages.inc(n),
        });
        entry = { session, reader };
      } catch (err) {
        this.options.logger.debug({ err: (err as Error).message, stream }, 'history reader not opened');
        channel.close().catch(() => undefined);
        return false;
      }
      state.reader = entry;
      this.options.metrics?.historyScans.inc();
    }
    const reader = entry.reader;
    clearTimeout(state.lingerTimer);
    const position = reader.awaitFence(fence);
    const timer = setTimeout(() => reader.close(), Math.max(0, deadline - Date.now()));
    // Published once the reader is consuming: its offset is a time, so the order does not matter.
    this.publish(session, partition, EMPTY_HEADERS, EMPTY, { [HISTORY_TOKEN_HEADER]: fence }).catch((err: Error) => {
      this.options.logger.debug({ err: err.message, stream }, 'history fence not published');
      reader.forgetFence(fence);
    });
    const at = await position;
    clearTimeout(timer);
    if (at === undefined) return false;
    collect(reader.before(at), requests, this.maxMessages);
    return true;
  }

  /** Keeps the partition's reader for the next batch a while, then lets it go. */
  private lingerReader(state: Partition): void {
    clearTimeout(state.lingerTimer);
    const entry = state.reader;
    if (entry === undefined) return;
    if (this.stopped || entry.reader.closed) {
      entry.reader.close();
      state.reader = undefined;
      return;
    }
    state.lingerTimer = setTimeout(() => {
      if (state.reader === entry && !state.running) {
        entry.reader.close();
        state.reader = undefined;
      }
    }, READER_LINGER_MS);
  }

  private outcome(request: ScanRequest, complete: boolean, fence: string | undefined): Replay {
    let messages: BrokerMessage[] = request.messages;
    let overflow = request.overflow;
    if (messages.length > this.maxMessages) {
      overflow = true;
      messages = messages.slice(-this.maxMessages);
    }
    const gap = !complete || request.token === undefined || !request.found || request.expired || overflow;
    this.options.metrics?.historyReplays.inc({ result: gap ? 'gap' : 'complete' });
    const last = messages[messages.length - 1];
    const position = last !== undefined ? last.headers[RESUME_TOKEN_HEADER] : complete ? fence : undefined;
    return { gap, messages, position };
  }

  /** The current link, or the next one to come up before `deadline` (undefined: none, or stopped). */
  private linkBefore(deadline: number): Promise<AmqpSession | undefined> {
    if (this.session !== undefined || this.stopped) return Promise.resolve(this.session);
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        resolve(this.stopped ? undefined : this.session);
      };
      const timer = setTimeout(
        () => {
          this.linkWaiters = this.linkWaiters.filter((w) => w !== wake);
          resolve(undefined);
        },
        Math.max(0, deadline - Date.now()),
      );
      this.linkWaiters.push(wake);
    });
  }

  // --- streams ---

  /** Publishes to partition `p`'s stream (mandatory, confirmed). */
  private publish(
    session: AmqpSession,
    partition: number,
    headers: StompHeaders,
    body: Buffer,
    extra: Record<string, string>,
  ): Promise<void> {
    const token = extra[HISTORY_TOKEN_HEADER];
    const options = publishOptions(headers, extra);
    options.mandatory = true;
    return new Promise<void>((resolve, reject) => {
      try {
        session.confirms.publish('', StreamHistory.streamName(partition), body, options, (err) => {
          if (this.returned.delete(token)) {
            // No such stream (deleted by hand?): declared again for the next record.
            if (this.declaration?.session === session) this.declaration = undefined;
            reject(
              relayError(Errors.BROKER_UNAVAILABLE, `history stream ${StreamHistory.streamName(partition)} is missing; declaring it again`),
            );
          } else if (err) {
            reject(
              this.session === session
                ? relayError(Errors.BROKER_ERROR, 'RabbitMQ refused the history record (nack)')
                : relayError(Errors.BROKER_UNAVAILABLE, 'the AMQP connection dropped before RabbitMQ confirmed the history record'),
            );
          } else {
            resolve();
          }
        });
      } catch (err) {
        reject(relayError(Errors.BROKER_UNAVAILABLE, `AMQP publish failed: ${(err as Error).message}`));
      }
    });
  }

  /** True once every stream is declared on this link; declares again if that failed a while ago. */
  private usable(session: AmqpSession): Promise<boolean> {
    const current = this.declaration;
    if (current === undefined || current.session !== session) return this.declare(session);
    return current.usable.then((ok) => (ok || Date.now() - current.at < REDECLARE_AFTER_MS ? ok : this.declare(session)));
  }

  /**
   * Declares every stream, retrying for {@link DECLARE_PATIENCE_MS}: right after a broker restart
   * the streams exist but are not running yet ("home node … is down"), for a second or two, and
   * records wait for them rather than fail. Only the last failure is logged at warn.
   */
  private declare(session: AmqpSession): Promise<boolean> {
    const until = Date.now() + DECLARE_PATIENCE_MS;
    const attempt = async (): Promise<boolean> => {
      for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
        const last = Date.now() + delay >= until;
        const results = await Promise.all(
          Array.from({ length: this.partitionCount }, (_, p) => this.declareStream(session, StreamHistory.streamName(p), last)),
        );
        if (results.every(Boolean)) return true;
        if (last || this.session !== session || this.stopped) return false;
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    };
    const usable = attempt();
    this.declaration = { session, at: Date.now(), usable };
    return usable;
  }

  /**
   * Declares one stream on a throwaway channel (a refused declare closes its channel). A stream
   * that exists with other arguments (another RESUME_WINDOW_MS) is used as it is, with a warning.
   */
  private async declareStream(session: AmqpSession, name: string, warn: boolean): Promise<boolean> {
    const logger = this.options.logger;
    const attempt = async (use: (channel: import('amqplib').Channel) => Promise<unknown>): Promise<Error | undefined> => {
      let channel;
      try {
        channel = await session.connection.createChannel();
        channel.on('error', () => undefined);
        await use(channel);
        return undefined;
      } catch (err) {
        return err as Error;
      } finally {
        await channel?.close().catch(() => undefined);
      }
    };
    const refused = await attempt((channel) =>
      channel.assertQueue(name, {
        durable: true,
        arguments: {
          'x-queue-type': 'stream',
          'x-max-age': `${Math.ceil((this.windowMs + RETENTION_MARGIN_MS) / 1000)}s`,
          'x-stream-max-segment-size-bytes': SEGMENT_BYTES,
        },
      }),
    );
    if (refused === undefined) return true;
    if (this.session !== session) return false;
    const missing = await attempt((channel) => channel.checkQueue(name));
    if (missing === undefined) {
      logger.warn(
        { stream: name, reason: refused.message },
        'history stream exists with other arguments (another RESUME_WINDOW_MS?); using it as it is',
      );
      return true;
    }
    if (this.session === session && warn) {
      logger.warn(
        { stream: name, reason: refused.message },
        'history stream could not be declared (RabbitMQ 3.9+ with streams is needed): resumes are gaps and user messages cannot be recorded',
      );
    }
    return false;
  }
}

const EMPTY = Buffer.alloc(0);
const EMPTY_HEADERS: StompHeaders = Object.freeze(Object.create(null)) as StompHeaders;
