/**
 * Where a client's destination goes. The session asks the router on every SUBSCRIBE and SEND; the
 * router decides whether the broker gets it (and under which name) or whether the relay handles it
 * in-process. User destinations (`/user/...`) and application destinations (`/app/...`) plug in here
 * by wrapping or replacing {@link PrefixRouter}.
 */
import type { StompFrame, StompHeaders } from '../codec/frame';
import type { BrokerMessage } from '../broker/broker';
import { Errors, relayError } from '../errors';
import { isTempQueue, REPLY_QUEUE_DESTINATION_PREFIX, underPrefix } from '../broker/destinations';
import type { StompSession } from './stomp-session';

/** A subscription the broker carries (the usual kind). */
export interface BrokerSubscribeRoute {
  kind?: 'broker';
  /** Destination to subscribe to at the broker. */
  brokerDestination: string;
  /** Destination the client sees in MESSAGE frames (e.g. `/user/queue/x`); default: the broker's. */
  clientDestination?: string;
  /** Extra headers for the broker subscription (`x-queue-name`, `auto-delete`...). */
  headers?: StompHeaders;
  /**
   * Whether this subscriber takes a message the broker delivered (e.g. a message addressed to one
   * session of a user reaches the instance's shared user subscription; only that session takes it).
   * Default: every message. `session` is the subscriber's, so one shared function can serve every
   * subscription (no closure per subscription: an idle relay holds mostly subscriptions).
   */
  accepts?(message: BrokerMessage, session: StompSession): boolean;
  /**
   * A user destination: its messages carry `resume-token`, and a SUBSCRIBE with `resume-from` is
   * replayed from the broker's history of `brokerDestination` (resume-gate.ts).
   */
  resumable?: boolean;
}

/** What the relay itself answers a subscription with (headers: `content-type` and the like). */
export interface AnsweredMessage {
  headers: StompHeaders;
  body: Buffer;
}

/**
 * A subscription the relay answers itself, once, without the broker (Spring's `@SubscribeMapping`):
 * the session keeps it until UNSUBSCRIBE, but nothing else ever arrives on it.
 */
export interface AnsweredSubscribeRoute {
  kind: 'answered';
  /** Destination the client sees in the answer's MESSAGE. */
  clientDestination: string;
  /** The answer, or undefined for none. Resolves also when the handler failed (that is reported elsewhere). */
  answer(frame: StompFrame, session: StompSession): Promise<AnsweredMessage | undefined>;
}

export type SubscribeRoute = BrokerSubscribeRoute | AnsweredSubscribeRoute;

export type SendRoute =
  /** `record`: a user destination, recorded in the broker's history before it is published (resume). */
  | { kind: 'broker'; destination: string; headers?: StompHeaders; record?: boolean }
  | { kind: 'handled'; handle(frame: StompFrame, session: StompSession): Promise<void> };

export interface DestinationRouter {
  /** Throws RelayError (DESTINATION_NOT_ALLOWED, ACCESS_DENIED) to refuse. */
  routeSubscribe(session: StompSession, destination: string, headers: StompHeaders): SubscribeRoute;
  /** Throws RelayError (DESTINATION_NOT_ALLOWED, ACCESS_DENIED) to refuse. */
  routeSend(session: StompSession, destination: string, frame: StompFrame): SendRoute;
}

/**
 * Relays destinations under the configured prefixes (`/topic/`, `/queue/`...) to the broker
 * unchanged and refuses everything else with DESTINATION_NOT_ALLOWED.
 *
 * Temporary and reply queues follow RabbitMQ (https://www.rabbitmq.com/docs/stomp#d.tqd), whatever
 * the prefixes: `/temp-queue/<name>` is only ever a SEND's `reply-to` (temp-queues.ts), never a
 * destination; `/reply-queue/<name>` takes SEND (a reply), never SUBSCRIBE.
 */
export class PrefixRouter implements DestinationRouter {
  private readonly prefixes: readonly string[];

  constructor(prefixes: readonly string[]) {
    this.prefixes = [...prefixes];
  }

  /** True when `destination` is under a relay prefix and names something below it. */
  allows(destination: string): boolean {
    return underPrefix(destination, this.prefixes);
  }

  routeSubscribe(_session: StompSession, destination: string, _headers?: StompHeaders): BrokerSubscribeRoute {
    if (isTempQueue(destination)) {
      throw relayError(
        Errors.DESTINATION_NOT_ALLOWED,
        `${destination} (temporary queues take no SUBSCRIBE: SEND with reply-to:${destination}, and replies arrive with subscription:${destination})`,
      );
    }
    if (destination.startsWith(REPLY_QUEUE_DESTINATION_PREFIX)) {
      throw relayError(Errors.DESTINATION_NOT_ALLOWED, `${destination} (reply queues can only be sent to)`);
    }
    if (!this.allows(destination)) throw relayError(Errors.DESTINATION_NOT_ALLOWED, destination);
    return { brokerDestination: destination };
  }

  routeSend(_session: StompSession, destination: string, _frame?: StompFrame): SendRoute {
    if (isTempQueue(destination)) {
      throw relayError(
        Errors.DESTINATION_NOT_ALLOWED,
        `${destination} (a temporary queue is named in reply-to; answer to the /reply-queue/ destination the receiver got)`,
      );
    }
    if (!this.allows(destination)) throw relayError(Errors.DESTINATION_NOT_ALLOWED, destination);
    return { kind: 'broker', destination };
  }
}
