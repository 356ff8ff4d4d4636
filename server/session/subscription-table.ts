/**
 * A session's subscriptions and the deliveries its client still has to ACK or NACK.
 *
 * STOMP names an unacked message differently per version (STOMP 1.2 §ACK, 1.1 §ACK, 1.0 §ACK):
 * - 1.2: the MESSAGE `ack` header, echoed as the ACK `id`. We issue a session-scoped key per delivery.
 * - 1.1: `message-id` + `subscription`.
 * - 1.0: `message-id` alone.
 * Each key maps to the consumer's own ackId, so the broker never sees client-chosen tokens and a
 * client can only settle deliveries of its own session.
 *
 * The tables of unsettled deliveries are made on the first delivery that needs one: most
 * subscriptions are `auto` and never do, and an idle session should cost little.
 */
import type { AckMode, Consumer, NackOptions } from '../broker/broker';
import type { StompVersion } from '../codec/frame';
import { settleUpTo } from '../broker/cumulative-ack';

export interface ClientSubscription {
  /** The client's subscription id (1.0 without `id`: the destination). */
  readonly id: string;
  /** Destination shown in MESSAGE frames. */
  readonly clientDestination: string;
  /** What the broker knows the subscription by ('' for one the relay answers itself). */
  readonly brokerDestination: string;
  readonly ack: AckMode;
  /** Set once the broker accepted the subscription. */
  consumer: Consumer | undefined;
  /** Unsettled deliveries, oldest first: ack key → consumer ackId (made on the first one). */
  unacked: Map<string, string> | undefined;
  /** False once unsubscribed or the session closed; late deliveries are ignored. */
  active: boolean;
  /** Its `subscribed` event went out, so an `unsubscribed` one must follow. */
  announced: boolean;
  /** Settlements made before the broker handed us the consumer (deliveries may precede it); made on the first one. */
  deferred: Array<{ consumerAckId: string; outcome: 'ack' | 'nack'; only?: boolean; nack?: NackOptions }> | undefined;
}

export interface PendingAck {
  subscription: ClientSubscription;
  key: string;
}

/** Subscriptions a session keeps in an array before it indexes them by id (see {@link SubscriptionTable}). */
const FEW = 8;
const NONE: readonly ClientSubscription[] = Object.freeze([]);

export class SubscriptionTable {
  /**
   * Up to {@link FEW} subscriptions: an array of exactly their number, searched by id (a Map costs
   * ~180 bytes for one or two, and most sessions hold one or two). Replaced, never changed in place,
   * so a walk over it is never disturbed by a subscribe or unsubscribe made during the walk.
   */
  private few: readonly ClientSubscription[] = NONE;
  /** Every subscription by id, once there were more than {@link FEW} (then {@link few} is empty). */
  private many: Map<string, ClientSubscription> | undefined;
  /** 1.2 ack keys and 1.0/1.1 message-ids → subscription holding them (latest delivery wins); made on the first. */
  private ackIndex: Map<string, ClientSubscription> | undefined;
  private nextAckKey = 0;

  get size(): number {
    return this.many?.size ?? this.few.length;
  }

  has(id: string): boolean {
    return this.get(id) !== undefined;
  }

  get(id: string): ClientSubscription | undefined {
    if (this.many !== undefined) return this.many.get(id);
    for (const subscription of this.few) if (subscription.id === id) return subscription;
    return undefined;
  }

  /**
   * Adds a subscription record made by the caller (the session's record is also its broker sink,
   * one object per subscription); it must be new: active, with no consumer and nothing unsettled.
   */
  add(subscription: ClientSubscription): ClientSubscription {
    const id = subscription.id;
    if (this.many !== undefined) {
      this.many.set(id, subscription);
    } else if (this.few.length < FEW) {
      this.few = this.few.concat(subscription);
    } else {
      this.many = new Map();
      for (const s of this.few) this.many.set(s.id, s);
      this.many.set(id, subscription);
      this.few = NONE;
    }
    return subscription;
  }

  /** Forgets a subscription and its unacked deliveries (closing the consumer returns those). */
  remove(id: string): ClientSubscription | undefined {
    const subscription = this.get(id);
    if (subscription === undefined) return undefined;
    if (this.many !== undefined) {
      this.many.delete(id);
    } else {
      const rest = this.few.slice();
      rest.splice(rest.indexOf(subscription), 1);
      this.few = rest.length === 0 ? NONE : rest;
    }
    subscription.active = false;
    if (subscription.unacked !== undefined) {
      for (const key of subscription.unacked.keys()) this.unindex(key, subscription);
      subscription.unacked = undefined;
    }
    return subscription;
  }

  /** Every subscription, for the rare walk over them all (at most maxSubscriptionsPerSession). */
  all(): IterableIterator<ClientSubscription> {
    return this.many !== undefined ? this.many.values() : this.few.values();
  }

  /** Removes every subscription; returns them so the caller can close their consumers. */
  removeAll(): ClientSubscription[] {
    const all = [...this.all()];
    for (const s of all) s.active = false;
    this.few = NONE;
    this.many = undefined;
    this.ackIndex = undefined;
    return all;
  }

  /**
   * Records a delivery the client must settle and returns the key that names it to the client
   * (1.2: the `ack` header value; 1.0/1.1: the message-id).
   */
  track(subscription: ClientSubscription, consumerAckId: string, messageId: string, version: StompVersion): string {
    const key = version === '1.2' ? (this.nextAckKey++).toString(36) : messageId;
    const unacked = (subscription.unacked ??= new Map());
    unacked.delete(key); // a redelivery of the same message-id moves to the end
    unacked.set(key, consumerAckId);
    (this.ackIndex ??= new Map()).set(key, subscription);
    return key;
  }

  /**
   * Finds the delivery an ACK/NACK names: `id` (1.2) or `message-id` [+ `subscription`] (1.0/1.1).
   * Undefined when there is no such unsettled delivery.
   *
   * STOMP 1.1's `subscription` header picks the subscription when it holds the message. When it
   * does not (a client that names the wrong one), the message-id alone decides if exactly one
   * subscription holds it: RabbitMQ reads the subscription out of the message-id and ignores the
   * header, and stock clients rely on that. The same lookup serves a 1.0 message-id the index lost
   * (two subscriptions held it and the later one settled). Several holders and no right name: none.
   */
  find(key: string, subscriptionId: string | undefined): PendingAck | undefined {
    const named = subscriptionId !== undefined ? this.get(subscriptionId) : this.ackIndex?.get(key);
    if (named?.unacked?.has(key)) return { subscription: named, key };
    // Rare path (a misnamed subscription): a scan of at most maxSubscriptionsPerSession Map lookups.
    let holder: ClientSubscription | undefined;
    for (const subscription of this.all()) {
      if (subscription.unacked?.has(key) !== true) continue;
      if (holder !== undefined) return undefined;
      holder = subscription;
    }
    return holder === undefined ? undefined : { subscription: holder, key };
  }

  /**
   * Settles a delivery at the consumer. In `client` mode ACK and NACK are cumulative (STOMP 1.2
   * §SUBSCRIBE ack header; NACK as RabbitMQ and both engines do it): they settle every earlier
   * delivery of that subscription too. `nack` carries a NACK's options (`requeue: false` gives the
   * message up). Returns false when the delivery was already settled (e.g. by an earlier cumulative
   * ACK inside the same transaction).
   */
  settle(pending: PendingAck, outcome: 'ack' | 'nack', nack?: NackOptions): boolean {
    const { subscription, key } = pending;
    const unacked = subscription.unacked;
    const consumerAckId = unacked?.get(key);
    if (unacked === undefined || consumerAckId === undefined || !subscription.active) return false;
    settleUpTo(unacked, key, subscription.ack === 'client', (_id, earlier) => this.unindex(earlier, subscription));
    const consumer = subscription.consumer;
    if (consumer === undefined) (subscription.deferred ??= []).push({ consumerAckId, outcome, nack });
    else if (outcome === 'ack') consumer.ack(consumerAckId);
    else consumer.nack(consumerAckId, nack);
    return true;
  }

  /**
   * Acks, alone, a delivery the relay consumed on the client's behalf (it never reaches the client,
   * so it is never tracked for the client's own ACKs).
   */
  release(subscription: ClientSubscription, consumerAckId: string): void {
    const consumer = subscription.consumer;
    if (consumer === undefined) (subscription.deferred ??= []).push({ consumerAckId, outcome: 'ack', only: true });
    else consumer.ack(consumerAckId, { only: true });
  }

  /** The broker handed over the consumer: apply what was settled before. */
  attach(subscription: ClientSubscription, consumer: Consumer): void {
    subscription.consumer = consumer;
    const deferred = subscription.deferred;
    if (deferred === undefined) return;
    subscription.deferred = undefined;
    for (const { consumerAckId, outcome, only, nack } of deferred) {
      if (outcome === 'ack') consumer.ack(consumerAckId, only ? { only } : undefined);
      else consumer.nack(consumerAckId, nack);
    }
  }

  private unindex(key: string, subscription: ClientSubscription): void {
    if (this.ackIndex?.get(key) === subscription) this.ackIndex.delete(key);
  }
}
