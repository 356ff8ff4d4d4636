/**
 * The seam between the session layer and whatever moves messages between instances.
 *
 * Two engines implement it: the embedded in-memory broker (one instance, no dependencies) and the
 * RabbitMQ relay (many instances, through RabbitMQ's STOMP plugin). The session layer, user
 * destinations and the push API only ever see this interface, and both engines pass one shared
 * contract suite (test/broker-suite/broker-contract.ts).
 *
 * ## Destinations
 * Destinations are RabbitMQ STOMP plugin names, which the embedded broker mimics:
 * - `/topic/<key>`: publish/subscribe. Every subscription gets its own copy.
 * - `/queue/<name>`: competing consumers. Each message goes to one subscription.
 * - `/exchange/<exchange>/<key>`: publish/subscribe through a named exchange (embedded: like a topic
 *   whose name is the whole destination).
 * - `/amq/queue/<name>`: an existing queue (embedded: same as `/queue/<name>`).
 * - `/reply-queue/<name>`: SEND only; reaches the queue called `<name>` (RabbitMQ: through the
 *   default exchange; unroutable messages are dropped). It is how responders answer a
 *   {@link ReplyAddress}.
 * - `/temp-queue/...` is never a destination, and a `reply-to: /temp-queue/...` header is refused:
 *   on a pooled broker connection RabbitMQ would make a queue nobody can free and whose replies
 *   nobody can route. Callers open a {@link ReplyAddress} instead (the session layer maps a client's
 *   `/temp-queue/<name>` to one).
 *
 * ## Guarantees (both engines)
 * - Order: messages published by one caller of {@link Broker.publish} to one destination reach each
 *   subscription in publish order (redeliveries after NACK or a consumer closing may come later).
 * - Topics (`/topic`, `/exchange`): a subscription receives what is published while it is active.
 *   Nothing is stored for absent subscribers. Across a broker reconnect an engine may lose what was
 *   published meanwhile, or deliver what was in flight twice (RabbitMQ's route queue: see
 *   rabbitmq/amqp/instance-routes.ts); the contract pins neither.
 * - Queues (`/queue`, `/amq/queue`) hold messages until a consumer takes them. With ack mode `auto` a
 *   message counts as delivered once handed to the sink. With `client` / `client-individual` it stays
 *   owned by the consumer until acked; a NACK, or closing the consumer with it unacked, puts it back
 *   on the queue for another (or the same) consumer: at-least-once. A NACK with `requeue: false`
 *   gives it up instead (see {@link Consumer.nack}).
 * - A {@link Delivery} object and its {@link BrokerMessage} may be shared by several sinks (fan-out
 *   to local subscribers of one topic). Sinks must treat them as immutable; sharing lets the session
 *   layer encode a MESSAGE frame once per fan-out.
 */
import type { StompHeaders } from '../codec/frame';
import { isRelayError, type RelayError } from '../errors';
import type { MessageHistory } from './history';

/**
 * How a subscription settles its messages, as STOMP's `ack` header: `auto` (delivered once handed over), `client` (cumulative ACK),
 * `client-individual` (one at a time).
 */
export type AckMode = 'auto' | 'client' | 'client-individual';

/** A message as the broker delivers it. Shared by every sink of a fan-out: treat it as immutable. */
export interface BrokerMessage {
  /** Destination the message was published to, as the broker names it (e.g. `/topic/chat`). */
  readonly destination: string;
  /**
   * Headers to show the receiving client: `content-type`, application headers, `persistent`,
   * `reply-to`, `redelivered`... Never `subscription`, `ack`, `message-id` (the session adds those)
   * or `receipt` (RabbitMQ copies a SEND's receipt header into the MESSAGE; engines strip it).
   */
  readonly headers: Readonly<StompHeaders>;
  /** The body's bytes, as published. */
  readonly body: Buffer;
  /** Unique per message within the broker (RabbitMQ's `message-id`). */
  readonly messageId: string;
}

/** One message handed to one consumer, with what it takes to settle it. */
export interface Delivery {
  /** The message (possibly shared with other sinks). */
  readonly message: BrokerMessage;
  /**
   * Set only for `client` / `client-individual` subscriptions: the token to pass to
   * {@link Consumer.ack} / {@link Consumer.nack}. Unique within the consumer.
   */
  readonly ackId?: string;
}

/** Where a consumer's deliveries go. Implemented by the session layer. */
export interface DeliverySink {
  /** Receives one delivery, in order; must not throw. */
  deliver(delivery: Delivery): void;
  /**
   * The broker ended this consumer by itself (destination deleted, broker refused it, access denied).
   * Not called for {@link Consumer.close}, nor for broker outages the engine recovers from.
   */
  cancelled(reason: RelayError): void;
}

/** What {@link Broker.subscribe} is asked for. */
export interface SubscribeRequest {
  /** Broker destination (`/topic/x`, `/queue/y`, `/exchange/e/k`, `/amq/queue/q`). */
  destination: string;
  /** How the subscription settles its messages. */
  ack: AckMode;
  /**
   * Extra SUBSCRIBE headers the engine passes to the broker: `selector`, `prefetch-count`,
   * `durable`, `auto-delete`, `exclusive`, `persistent`, `x-queue-name`, `x-*` queue arguments.
   * Never `id`, `ack`, `destination`, `receipt`.
   */
  headers: StompHeaders;
  /**
   * Whose subscription this is. Engines need it for two RabbitMQ features (see
   * subscription-flags.ts): an exclusive queue belongs to its subscriber's session, and a durable
   * topic subscription is named after its user and subscription id. Without it, each exclusive
   * subscription is a session of its own and durable topic subscriptions are refused.
   */
  subscriber?: Subscriber;
}

/** The session, user and client subscription id behind a {@link SubscribeRequest}. */
export interface Subscriber {
  /** The session (one client connection); unique within the relay. */
  readonly session: string;
  /** The authenticated user; undefined for anonymous sessions. */
  readonly user: string | undefined;
  /** The client's own subscription id (SUBSCRIBE `id`). */
  readonly id: string;
}

/** How a consumer ends ({@link Consumer.close}). */
export interface CloseOptions {
  /**
   * The client UNSUBSCRIBEd with `durable:true` or `persistent:true`: as on RabbitMQ, a durable
   * topic subscription's queue is deleted with it (and what waited in it). Otherwise the queue
   * stays, and a later subscription with the same user, destination and id gets its messages.
   */
  removeDurable?: boolean;
}

/** How {@link Consumer.ack} settles. */
export interface AckOptions {
  /** Settle only this delivery, even in `client` mode. */
  only?: boolean;
}

/** How {@link Consumer.nack} gives a message back. */
export interface NackOptions {
  /**
   * Whether the rejected delivery goes back to its queue (the default, `true`) or is given up:
   * STOMP's NACK header `requeue: false`, which RabbitMQ's STOMP plugin honours (basic.nack with
   * requeue=false). Without it a message no consumer can handle would come back forever.
   */
  requeue?: boolean;
}

/** A live subscription at the broker: settle its deliveries, then close it. */
export interface Consumer {
  /**
   * Acknowledges a delivery. For `client` mode this is cumulative: it also acks every earlier
   * unacked delivery of this consumer (STOMP 1.2 §ACK). Unknown or already settled ids are ignored
   * (the broker may have redelivered them elsewhere after an outage); returns whether it was known.
   * With `options.only`, exactly this delivery is settled, in every mode: for deliveries the relay
   * consumed on the client's behalf (e.g. addressed to another session), which the client never sees
   * and so can never cover with a cumulative ACK of its own.
   */
  ack(ackId: string, options?: AckOptions): boolean;
  /**
   * Rejects a delivery; a queue message goes back to its queue (cumulatively in `client` mode, as
   * ack). With `options.requeue === false` it does not: RabbitMQ dead-letters it when the queue has
   * a dead-letter exchange (`x-dead-letter-exchange`) and drops it otherwise; the embedded broker
   * drops it (it has no dead-lettering). For topic subscriptions engines differ (RabbitMQ requeues
   * into the subscription's own queue, the embedded broker drops it), so the contract leaves it
   * out. Same id rules as ack.
   */
  nack(ackId: string, options?: NackOptions): boolean;
  /** Stops deliveries. Unacked deliveries go back to their queue. Idempotent. */
  close(options?: CloseOptions): Promise<void>;
}

/**
 * Queue names (not destinations) under this prefix belong to reply addresses, which are reached as
 * `/reply-queue/<name>` (destinations.ts `REPLY_QUEUE_DESTINATION_PREFIX`): both engines refuse SUBSCRIBE and SEND
 * to `/queue/` and `/amq/queue/` destinations under it, so nobody can read another's replies.
 */
export const REPLY_QUEUE_NAME_PREFIX = 'stomp-relay.reply.';

/**
 * A private address replies can be sent to from anywhere (any session, any instance): the relay's
 * form of RabbitMQ's temporary reply queues (https://www.rabbitmq.com/docs/stomp#d.tqd), which
 * belong to one broker connection and so cannot serve the many sessions of a pooled connection.
 *
 * RabbitMQ engine: an exclusive, auto-delete queue under `REPLY_QUEUE_NAME_PREFIX` (`stomp-relay.reply.`) consumed on one
 * pooled connection; nobody else can consume it (RabbitMQ locks exclusive queues to their
 * connection, and the engines refuse the reserved names). Like RabbitMQ's temporary queues it ends
 * with that connection: if the connection drops, the address is cancelled (BROKER_UNAVAILABLE) and
 * replies sent to it are dropped; open a new one. Embedded engine: an in-process mailbox.
 */
export interface ReplyAddress {
  /** `/reply-queue/<name>`: what to put in a request's `reply-to` header; responders SEND to it. */
  readonly destination: string;
  /** Frees the address (RabbitMQ deletes the queue). Later replies to it are dropped. Idempotent. */
  close(): Promise<void>;
}

/** What {@link Broker.publish} sends. */
export interface PublishRequest {
  /** Broker destination to publish to. */
  destination: string;
  /** Headers to carry to receivers (content-type, application headers, persistent, reply-to...). */
  headers: StompHeaders;
  /** The body's bytes. */
  body: Buffer;
}

/** How {@link Broker.publish} waits and what it asks of the broker. */
export interface PublishOptions {
  /**
   * Resolve only once the broker has confirmed it took the message (RabbitMQ: its RECEIPT).
   * Without it the promise resolves once the message is handed to the broker connection.
   */
  confirm?: boolean;
  /**
   * The message must reach at least one subscription: when the broker routes it to none, the
   * promise rejects with NO_ROUTE (after the broker took it and dropped it; nothing was delivered).
   * For topics and exchanges (user destinations are direct-exchange keys); queues always route.
   * RabbitMQ: a `mandatory` publish with confirms, whose basic.return reports "no queue".
   */
  mandatory?: boolean;
}

/**
 * The engine's name, for logs, `/readyz` and `/instance`. A name, not a capability: nothing in the
 * relay branches on it, so a custom engine names itself what it likes. What an engine can do is
 * what its interface (and any optional capability on it) says.
 */
export type BrokerKind = 'memory' | 'rabbitmq' | (string & {});

/**
 * Each method states what the engine guarantees and what the caller must do. Both engines pass the
 * contract suite (test/broker-suite/broker-contract.ts), which pins these.
 */
export interface Broker {
  /** Which engine this is. */
  readonly kind: BrokerKind;
  /**
   * True while the broker can take publishes and subscriptions. Engine: flips only together with
   * an {@link onReadyChange} call. Caller: may still get BROKER_UNAVAILABLE while it is true (the
   * last connection can drop at any time); readiness is a hint for `/readyz`, not a lease.
   */
  readonly ready: boolean;
  /**
   * Optional capability: bounded history per destination, for resume (history.ts). Absent when the
   * engine has none or history is off (`RESUME_WINDOW_MS=0`); every resume is then a gap.
   */
  readonly history?: MessageHistory;
  /**
   * Starts the engine, and starts it again after {@link stop}: fresh, with none of the consumers
   * or reply addresses from before (both engines; the contract pins it). Idempotent while started.
   * Engine: rejects only on bad settings; the RabbitMQ engine resolves even if the broker is
   * unreachable (it keeps retrying and reports readiness through {@link onReadyChange}).
   * Caller: watches {@link ready} / {@link onReadyChange} rather than assuming ready on resolve.
   */
  start(): Promise<void>;
  /**
   * Closes every consumer and connection; idempotent. Engine: sinks are not told (no
   * `cancelled`), unacked queue messages go back to their queues (the embedded broker drops its
   * queues), later calls reject with BROKER_UNAVAILABLE until {@link start}. Caller: has ended or
   * will end whatever holds the consumers (sessions) itself.
   */
  stop(): Promise<void>;
  /**
   * Calls `listener` whenever {@link ready} changes, once per change, after the engine logged it
   * (each engine logs its own readiness; listeners need not). A listener that throws is logged and
   * the others are still called. Returns a function that unregisters it; the caller calls it when
   * done (the relay does on close).
   */
  onReadyChange(listener: (ready: boolean) => void): () => void;
  /**
   * Starts consuming. Resolves once the broker has the subscription (so a RECEIPT the session
   * sends afterwards means messages published from now on will arrive). Rejects with a RelayError
   * (BROKER_UNAVAILABLE, DESTINATION_NOT_ALLOWED, BROKER_ERROR, INVALID_HEADER for a bad
   * `prefetch-count`). Across broker outages the engine restores the consumer by itself; the sink
   * is not told. `deliver` may run inside the call that causes it (the embedded broker delivers
   * synchronously inside `publish`), so a sink must not assume a fresh stack. Caller: settles every delivery of a client-ack subscription
   * ({@link Consumer.ack} / {@link Consumer.nack}) or closes the consumer, and treats each
   * {@link Delivery} as immutable: plain auto-ack subscribers of one topic get the same object
   * (session/message-encoder.ts encodes it once for all of them).
   */
  subscribe(request: SubscribeRequest, sink: DeliverySink): Promise<Consumer>;
  /**
   * Publishes one message. Rejects with a RelayError (BROKER_UNAVAILABLE, BROKER_ERROR,
   * DESTINATION_NOT_ALLOWED; a `reply-to` under `/temp-queue/` is refused: see {@link ReplyAddress};
   * NO_ROUTE with `options.mandatory` when nothing subscribed took it). Engine: keeps per-caller
   * order per destination (see Guarantees). Caller: awaits it before reporting success
   * (with `confirm` for a RECEIPT that means "the broker has it"); a rejection is never retried
   * for it by the engine.
   */
  publish(request: PublishRequest, options?: PublishOptions): Promise<void>;
  /**
   * Optional capability: {@link publish} with `mandatory: true`, telling "nothing subscribed took
   * it" by resolving `false` rather than rejecting with NO_ROUTE (the same broker exchange: the
   * message was taken and dropped, nothing was delivered). Resolves `true` once routed (and, with
   * `confirm`, confirmed). Every other rejection is {@link publish}'s. It exists for callers that
   * expect unroutable messages often (a push to many offline users) and should not pay for an
   * error object each time. The relay calls it through broker.ts's `publishMandatory(broker, …)`,
   * which uses {@link publish} when the engine has no such method, so an engine without it still works.
   */
  publishMandatory?(request: PublishRequest, options?: Pick<PublishOptions, 'confirm'>): Promise<boolean>;
  /**
   * Opens a {@link ReplyAddress} whose messages go to `sink` as auto-ack deliveries (no ack id),
   * with `message.destination` set to the address's destination. Resolves once a message sent to
   * the address from now on, from any publisher, will arrive. Rejects with BROKER_UNAVAILABLE or
   * BROKER_ERROR. `sink.cancelled` is called if the broker ends the address by itself, which for
   * RabbitMQ includes losing the connection it rides on (BROKER_UNAVAILABLE): unlike a
   * subscription, an address cannot be restored under the same name. Caller: closes the address
   * when done (the session does when it ends) and opens a new one after `cancelled`.
   */
  openReplyAddress(sink: DeliverySink): Promise<ReplyAddress>;
}

/**
 * A mandatory publish: true when routed, false when nothing subscribed took it (NO_ROUTE), other
 * failures rejected as {@link Broker.publish} rejects them. Through the engine's
 * {@link Broker.publishMandatory} when it has one (no error object per unroutable message).
 */
export async function publishMandatory(
  broker: Broker,
  request: PublishRequest,
  options: Pick<PublishOptions, 'confirm'> = {},
): Promise<boolean> {
  if (broker.publishMandatory !== undefined) return broker.publishMandatory(request, options);
  try {
    await broker.publish(request, { confirm: options.confirm, mandatory: true });
    return true;
  } catch (err) {
    if (isRelayError(err) && err.code === 'NO_ROUTE') return false;
    throw err;
  }
}
