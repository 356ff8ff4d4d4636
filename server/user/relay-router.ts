/**
 * The relay's destination router: user destinations (`/user/...`), application destinations
 * (`/app/...`), the reserved internal namespace, then the relayed prefixes.
 *
 * Isolation rules (each has a test):
 * - `/user/queue/x` always means the session's own user; `/user/{name}/...` is accepted for
 *   SUBSCRIBE only when `{name}` is that same user (ACCESS_DENIED otherwise).
 * - Anonymous sessions have user destinations of their own, keyed by session id (as in Spring):
 *   `/user/queue/x` only, never `/user/{name}/...` for SUBSCRIBE.
 * - Nothing under the internal namespace (where user messages and presence travel) can be
 *   subscribed to or sent to by a client, whatever its spelling.
 * - A client may SEND to another user's destination (`/user/bob/queue/chat`), as in Spring: that is
 *   how private messages work; reading stays private.
 */
import type { StompFrame, StompHeaders } from '../codec/frame';
import type { BrokerMessage } from '../broker/broker';
import { Errors, relayError } from '../errors';
import type { MessageHandlers } from '../application/message-handlers';
import type { DestinationRouter, SendRoute, SubscribeRoute } from '../session/destination-router';
import { PrefixRouter } from '../session/destination-router';
import type { StompSession } from '../session/stomp-session';
import {
  TARGET_SESSION_HEADER,
  isInternalDestination,
  ownBrokerDestination,
  sessionBrokerDestination,
  parseUserDestination,
  userBrokerDestination,
  userDestinationPrefixes,
} from './user-destinations';

export interface RelayRouterOptions {
  relayPrefixes: readonly string[];
  userPrefix: string;
  appPrefix: string;
  handlers: MessageHandlers;
}

export class RelayRouter implements DestinationRouter {
  private readonly relayed: PrefixRouter;
  /** Prefixes a user destination may name inside `/user` (no temporary or reply queues). */
  private readonly userInner: readonly string[];

  constructor(private readonly options: RelayRouterOptions) {
    this.relayed = new PrefixRouter(options.relayPrefixes);
    this.userInner = userDestinationPrefixes(options.relayPrefixes);
  }

  routeSubscribe(session: StompSession, destination: string, _headers: StompHeaders): SubscribeRoute {
    if (isInternalDestination(destination)) throw relayError(Errors.ACCESS_DENIED, `${destination} is reserved for the relay`);
    if (destination.startsWith(this.options.userPrefix)) {
      const user = session.principal?.name;
      const parsed = parseUserDestination(destination, this.options.userPrefix, this.userInner);
      if (parsed.user !== undefined && parsed.user !== user) {
        throw relayError(
          Errors.ACCESS_DENIED,
          user === undefined
            ? `an anonymous session has only its own user destinations (/user/queue/...), not ${destination}`
            : `cannot subscribe to another user's destination ${destination}`,
        );
      }
      return {
        brokerDestination: ownBrokerDestination(user, session.id, parsed.destination),
        clientDestination: destination,
        accepts: isForSession,
        resumable: true,
      };
    }
    if (destination.startsWith(this.options.appPrefix)) {
      // @SubscribeMapping: answered once by relay.onSubscribe's handler (NO_HANDLER reported when none).
      const path = destination.slice(this.options.appPrefix.length - 1);
      return { kind: 'answered', clientDestination: destination, answer: (frame, s) => this.options.handlers.answer(path, frame, s) };
    }
    return this.relayed.routeSubscribe(session, destination);
  }

  routeSend(session: StompSession, destination: string, _frame: StompFrame): SendRoute {
    if (isInternalDestination(destination)) throw relayError(Errors.ACCESS_DENIED, `${destination} is reserved for the relay`);
    if (destination.startsWith(this.options.userPrefix)) {
      const parsed = parseUserDestination(destination, this.options.userPrefix, this.userInner);
      // `/user/queue/x` is the sender's own (an anonymous session's: its session's), as for SUBSCRIBE.
      const user = parsed.user ?? session.principal?.name;
      const destinationOf =
        user !== undefined ? userBrokerDestination(user, parsed.destination) : sessionBrokerDestination(session.id, parsed.destination);
      // A named user's messages are recorded for resume; an anonymous session's die with it.
      return { kind: 'broker', destination: destinationOf, record: user !== undefined };
    }
    if (destination.startsWith(this.options.appPrefix)) {
      const path = destination.slice(this.options.appPrefix.length - 1);
      // Even without a handler: that is reported to the sender (NO_HANDLER), not a protocol error.
      return { kind: 'handled', handle: (frame, s) => this.options.handlers.dispatch(path, frame, s) };
    }
    return this.relayed.routeSend(session, destination);
  }
}

/**
 * sendToSession: the message reaches every session of the user on this instance; only the target
 * takes it. One function for every user subscription (the session comes as an argument).
 */
function isForSession(message: BrokerMessage, session: StompSession): boolean {
  const target = message.headers[TARGET_SESSION_HEADER];
  return target === undefined || target === session.id;
}
