/**
 * The embedded broker's message history ({@link MessageHistory}): one bounded list per destination,
 * in this process's memory, with the same contract as RabbitMQ's streams. It lives as long as the
 * broker object; a restart of the process is a new epoch, so older tokens are a gap.
 *
 * Token: `m1.<epoch>.<seq>.<ms>`: `seq` counts records across all destinations, `ms` is when it was
 * issued (base 36). A token older than the window is a gap, as on RabbitMQ: whatever came after it
 * may have come and gone.
 *
 * Cost: at most `maxMessages` entries per destination that got a message within the window, each
 * the message itself plus ~100 bytes; destinations with nothing recent are swept.
 */
import { randomBytes } from 'node:crypto';
import { headers as makeHeaders } from '../../codec/frame';
import type { BrokerMessage } from '../broker';
import { RESUME_TOKEN_HEADER, type HistoryOptions, type MessageHistory, type RecordedMessage, type Replay } from '../history';
import { Deque } from './deque';

interface Entry {
  readonly seq: number;
  readonly at: number;
  readonly message: BrokerMessage;
}

interface DestinationHistory {
  readonly entries: Deque<Entry>;
  /** Seq of the newest entry dropped for the bound or the window (0: none): a token before it is a gap. */
  droppedThrough: number;
}

const TOKEN_VERSION = 'm1';

export class MemoryHistory implements MessageHistory {
  readonly windowMs: number;
  readonly maxMessages: number;
  private readonly epoch = randomBytes(4).toString('hex');
  private readonly destinations = new Map<string, DestinationHistory>();
  private seq = 0;
  private recordsSinceSweep = 0;

  constructor(
    options: HistoryOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.windowMs = options.windowMs;
    this.maxMessages = options.maxMessages;
  }

  record(destination: string, message: RecordedMessage): Promise<string> {
    const seq = ++this.seq;
    const at = this.now();
    const token = this.token(seq, at);
    let history = this.destinations.get(destination);
    if (history === undefined) {
      history = { entries: new Deque<Entry>(4), droppedThrough: 0 };
      this.destinations.set(destination, history);
    }
    // Not a spread: V8's spread of a null-prototype header table plus a field takes a slow path.
    const headers = makeHeaders(message.headers);
    headers[RESUME_TOKEN_HEADER] = token;
    history.entries.pushBack({ seq, at, message: { destination, headers, body: message.body, messageId: `history-${this.epoch}-${seq}` } });
    while (history.entries.length > this.maxMessages) history.droppedThrough = history.entries.shift()!.seq;
    this.expire(history, at);
    // Destinations nobody writes to any more would stay forever: sweep them now and then.
    if (++this.recordsSinceSweep >= 1024) this.sweep(at);
    return Promise.resolve(token);
  }

  replay(destination: string, token: string): Promise<Replay> {
    const now = this.now();
    const after = this.parse(token);
    const history = this.destinations.get(destination);
    if (history !== undefined) this.expire(history, now);
    const messages: BrokerMessage[] = [];
    for (const entry of history?.entries ?? []) if (after === undefined || entry.seq > after.seq) messages.push(entry.message);
    const gap = after === undefined || after.seq < (history?.droppedThrough ?? 0) || now - after.at > this.windowMs;
    const position = messages.length > 0 ? messages[messages.length - 1].headers[RESUME_TOKEN_HEADER] : this.token(this.seq, now);
    return Promise.resolve({ gap, messages, position });
  }

  position(_destination: string): Promise<string | undefined> {
    return Promise.resolve(this.token(this.seq, this.now()));
  }

  private token(seq: number, at: number): string {
    return `${TOKEN_VERSION}.${this.epoch}.${seq}.${at.toString(36)}`;
  }

  /** What a token of this epoch names, or undefined for anything else (forged, another epoch). */
  private parse(token: string): { seq: number; at: number } | undefined {
    const parts = token.split('.');
    if (parts.length !== 4 || parts[0] !== TOKEN_VERSION || parts[1] !== this.epoch) return undefined;
    if (!/^[0-9]{1,15}$/.test(parts[2]) || !/^[0-9a-z]{1,11}$/.test(parts[3])) return undefined;
    const seq = Number(parts[2]);
    const at = parseInt(parts[3], 36);
    return seq <= this.seq && at <= this.now() ? { seq, at } : undefined;
  }

  private expire(history: DestinationHistory, now: number): void {
    const oldest = now - this.windowMs;
    while (history.entries.length > 0 && history.entries.peekFront()!.at < oldest) history.droppedThrough = history.entries.shift()!.seq;
  }

  private sweep(now: number): void {
    this.recordsSinceSweep = 0;
    for (const [destination, history] of this.destinations) {
      this.expire(history, now);
      if (history.entries.length === 0) this.destinations.delete(destination);
    }
  }
}
