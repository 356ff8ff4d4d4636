/**
 * One session's temporary queues (RabbitMQ's `/temp-queue/<name>`, https://www.rabbitmq.com/docs/stomp#d.tqd).
 *
 * A client SENDs with `reply-to: /temp-queue/<name>`; the relay swaps that header for the
 * `/reply-queue/...` destination of a {@link ReplyAddress} it opened for this session and name, so a
 * responder anywhere (any session, any instance, a direct RabbitMQ client) can answer it. Replies
 * come back to the client as MESSAGE frames with `subscription` and `destination` both
 * `/temp-queue/<name>`, without any SUBSCRIBE: what RabbitMQ sends a client connected to it directly
 * (stomp.js hands them to `onUnhandledMessage`).
 *
 * One address per name, reused for every request that names it, freed when the session ends.
 */
import type { Broker, Delivery, ReplyAddress } from '../broker/broker';
import type { RelayError } from '../errors';

export interface TempQueueEvents {
  /** A reply for `/temp-queue/<name>` (`clientDestination`). */
  reply(clientDestination: string, delivery: Delivery): void;
  /**
   * The broker ended an address by itself (RabbitMQ: its connection dropped); it is forgotten, so
   * the next request naming the temporary queue opens a new one.
   */
  lost(clientDestination: string, reason: RelayError): void;
}

interface Entry {
  /** Set once the broker opened the address. */
  address: ReplyAddress | undefined;
  opening: Promise<string>;
}

export class TempQueues {
  /** By client destination; made on first use (most sessions never open a temporary queue). */
  private entriesMap: Map<string, Entry> | undefined;
  private closed = false;

  constructor(
    private readonly broker: Broker,
    private readonly events: TempQueueEvents,
  ) {}

  /** Temporary queues opened or opening. */
  get size(): number {
    return this.entriesMap?.size ?? 0;
  }

  has(clientDestination: string): boolean {
    return this.entriesMap?.has(clientDestination) === true;
  }

  private get entries(): Map<string, Entry> {
    return (this.entriesMap ??= new Map());
  }

  /**
   * The `reply-to` to send instead of `clientDestination` (`/temp-queue/<name>`): at once when the
   * address is open, else a promise of it (first use of the name). Rejects with the broker's error.
   */
  replyTo(clientDestination: string): string | Promise<string> {
    const known = this.entriesMap?.get(clientDestination);
    if (known !== undefined) return known.address?.destination ?? known.opening;
    const entry: Entry = { address: undefined, opening: Promise.resolve('') };
    const sink = {
      deliver: (delivery: Delivery) => {
        if (this.entries.get(clientDestination) === entry) this.events.reply(clientDestination, delivery);
      },
      cancelled: (reason: RelayError) => {
        if (this.entries.get(clientDestination) !== entry) return;
        this.entries.delete(clientDestination);
        this.events.lost(clientDestination, reason);
      },
    };
    entry.opening = this.broker.openReplyAddress(sink).then(
      (address) => {
        if (this.closed || this.entries.get(clientDestination) !== entry) {
          void address.close(); // the session ended while the broker was busy
          return address.destination;
        }
        entry.address = address;
        return address.destination;
      },
      (err: unknown) => {
        if (this.entries.get(clientDestination) === entry) this.entries.delete(clientDestination);
        throw err;
      },
    );
    this.entries.set(clientDestination, entry);
    return entry.opening;
  }

  /** Frees every address (the session ended). Replies still on their way are dropped. */
  closeAll(): Promise<void> {
    this.closed = true;
    const open = [...(this.entriesMap?.values() ?? [])];
    this.entriesMap = undefined;
    return Promise.all(open.map((entry) => entry.address?.close())).then(() => undefined);
  }
}
