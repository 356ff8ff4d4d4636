/**
 * Application destinations (Spring's `@MessageMapping`): a client SEND to `/app/hello` runs the
 * handler registered for `/hello` in this process, on the instance the client is connected to.
 * The handler's return value can be sent to the sender's user destination (`@SendToUser`) or
 * published to a broker destination (`@SendTo`), or the handler can use its context to do either.
 *
 * The seeds' greeting example:
 * ```ts
 * relay.onMessage('/hello', { sendToUser: '/topic/greetings' }, (msg) => `hello, ${msg.text()}`);
 * ```
 *
 * Errors keep the session (Spring's `@MessageExceptionHandler` with `@SendToUser("/queue/errors")`):
 * a handler that throws or rejects, a reply it cannot send, or an /app destination without a
 * handler are reported to the sending session alone, as a MESSAGE on its user's error destination
 * (`/user/queue/errors` by default), before the SEND's RECEIPT; the session goes on. The report
 * is JSON `{ code, message, destination }`: an {@link AppError}'s own code and message, a relay
 * error's (BAD_REQUEST for a body `msg.json()` cannot parse), or HANDLER_ERROR for anything else,
 * whose details go to the log only.
 */
import type { StompFrame, StompHeaders } from '../codec/frame';
import { headers as makeHeaders } from '../codec/frame';
import { Errors, isRelayError, relayError } from '../errors';
import type { DestinationParams } from '../destination-pattern';
import type { Logger } from '../observability/logger';
import { Mappings } from './mappings';
import { ownBrokerDestination } from '../user/user-destinations';
import { encodePayload, type Payload, type SendToUserOptions } from '../user/user-messaging';

/**
 * An error a handler throws for the client to see: its `code` and `message` reach the sender's
 * error destination as they are (any other exception is reported as HANDLER_ERROR, details logged).
 *
 * ```ts
 * if (!inStock) throw new AppError('OUT_OF_STOCK', `item ${id} is out of stock`);
 * ```
 */
export class AppError extends Error {
  /**
   * @param code The `code` the sender's error report carries (your own: `OUT_OF_STOCK`).
   * @param message A readable message for the sender.
   */
  constructor(
    /** The code the sender's error report carries. */
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

/** What a handler receives. */
export interface AppMessage {
  /** Destination without the application prefix, e.g. `/hello`, `/chat/lobby`. */
  readonly destination: string;
  /**
   * The variables of the template the handler was registered with (Spring's `@DestinationVariable`):
   * `relay.onMessage('/chat/{room}', …)` sees `/app/chat/lobby` as `{ room: 'lobby' }`. Empty for
   * an exact destination. Frozen.
   */
  readonly params: DestinationParams;
  /** The SEND's headers. */
  readonly headers: Readonly<StompHeaders>;
  /** The SEND's body bytes. */
  readonly body: Buffer;
  /** The sender's user name, or null for an anonymous session. */
  readonly user: string | null;
  /** The sender's session id. */
  readonly sessionId: string;
  /** Body as UTF-8 text. */
  text(): string;
  /** Body parsed as JSON; throws BAD_REQUEST when it is not JSON. */
  json<T = unknown>(): T;
}

/** What a handler can do besides returning a value. */
export interface AppContext {
  /** Sends to the sender's own user destination (all their sessions, on any instance; an anonymous sender's own session). */
  replyToUser(destination: string, payload: Payload, options?: SendToUserOptions): Promise<void>;
  /** Sends to any user's destination. */
  sendToUser(user: string, destination: string, payload: Payload, options?: SendToUserOptions): Promise<void>;
  /** Publishes to a broker destination (`/topic/...`, `/queue/...`). */
  publish(destination: string, payload: Payload, headers?: Record<string, string | number | boolean>): Promise<void>;
}

/** Where {@link Relay.onMessage} sends a handler's return value (Spring's `@SendToUser` / `@SendTo`); neither: nowhere. */
export interface HandlerOptions {
  /** Send the handler's return value (unless undefined) to the sender's user destination. */
  sendToUser?: string;
  /** Publish the handler's return value (unless undefined) to this broker destination. */
  sendTo?: string;
}

/**
 * An application handler: gets the SEND and a context; its return value (unless undefined) goes where {@link HandlerOptions} says. A throw,
 * or an {@link AppError}, is reported to the sender on `/user/queue/errors`; the session goes on.
 */
export type AppHandler = (message: AppMessage, context: AppContext) => Payload | undefined | void | Promise<Payload | undefined | void>;

/** What a subscribe handler receives: the SUBSCRIBE it answers. */
export interface AppSubscription {
  /** Destination without the application prefix, e.g. `/snapshot/42`. */
  readonly destination: string;
  /** The template's variables (`/snapshot/{id}` → `{ id: '42' }`); empty for an exact destination. Frozen. */
  readonly params: DestinationParams;
  /** The SUBSCRIBE's headers. */
  readonly headers: Readonly<StompHeaders>;
  /** The subscription's id, which the answer carries as `subscription`. */
  readonly subscriptionId: string;
  /** The subscriber's user name, or null for an anonymous session. */
  readonly user: string | null;
  /** The subscriber's session id. */
  readonly sessionId: string;
}

/**
 * Answers a SUBSCRIBE to an application destination (Spring's `@SubscribeMapping`): the value it
 * returns (unless undefined) is sent once, to that subscription only, before the SUBSCRIBE's RECEIPT.
 */
export type AppSubscribeHandler = (
  subscription: AppSubscription,
  context: AppContext,
) => Payload | undefined | void | Promise<Payload | undefined | void>;

interface Registration {
  options: HandlerOptions;
  handler: AppHandler;
}

/** The sender, as the handler registry needs it (a StompSession satisfies this). */
export interface AppSender {
  readonly id: string;
  readonly principal: { readonly name: string } | null;
  /** Writes a message to this session's own subscriptions to `brokerDestination`; how many took it. */
  deliverLocal(brokerDestination: string, headers: StompHeaders, body: Buffer): number;
}

export interface MessageHandlersOptions {
  /** What a handler's context can do for a sender. */
  context(sender: AppSender): AppContext;
  /** Where error reports go, inside the sender's user space (`/queue/errors`: `/user/queue/errors`). */
  errorDestination: string;
  logger: Logger;
}

/** What the sender's error destination receives, as JSON. */
export interface AppErrorReport {
  /** `AppError`'s code, or the relay's (`HANDLER_ERROR`, `BAD_REQUEST`, `NO_HANDLER`). */
  code: string;
  /** A readable message. */
  message: string;
  /** The destination of the SEND that failed, as the client sent it (`/app/order`). */
  destination: string;
}

/** Registry of application handlers by destination (without prefix), exact or templated. */
export class MessageHandlers {
  private readonly handlers = new Mappings<Registration>();
  private readonly subscribeHandlers = new Mappings<AppSubscribeHandler>();

  constructor(private readonly options: MessageHandlersOptions) {}

  /**
   * Registers `handler` for `destination` (e.g. `/hello` answers SENDs to `/app/hello`), which may
   * be a template (`/chat/{room}`, server/destination-pattern.ts). INVALID_CONFIG when malformed or
   * already registered.
   */
  register(destination: string, options: HandlerOptions, handler: AppHandler): void {
    this.handlers.add(destination, { options, handler });
  }

  /** Registers a subscribe handler for `destination` (exact or a template; `/snapshot/{id}` answers `/app/snapshot/42`). */
  registerSubscribe(destination: string, handler: AppSubscribeHandler): void {
    this.subscribeHandlers.add(destination, handler);
  }

  /**
   * Runs the subscribe handler for `destination` with the SUBSCRIBE a session sent: resolves with
   * the answer (undefined for none). Never rejects: what goes wrong is reported to the subscriber.
   */
  async answer(destination: string, frame: StompFrame, sender: AppSender): Promise<{ headers: StompHeaders; body: Buffer } | undefined> {
    const sent = frame.headers.destination ?? destination;
    try {
      const mapped = this.subscribeHandlers.find(destination);
      if (mapped === undefined) throw relayError(Errors.NO_HANDLER, sent);
      const subscription: AppSubscription = Object.freeze({
        destination,
        params: mapped.params,
        headers: frame.headers,
        subscriptionId: frame.headers.id ?? sent,
        user: sender.principal?.name ?? null,
        sessionId: sender.id,
      });
      const result = await mapped.value(subscription, this.options.context(sender));
      if (result === undefined) return undefined;
      const { body, contentType } = encodePayload(result);
      return { headers: makeHeaders({ 'content-type': contentType }), body };
    } catch (err) {
      this.report(sent, err, sender);
      return undefined;
    }
  }

  /**
   * Runs the handler for `destination` with the frame a session sent, and resolves when it and its
   * replies are done. Never rejects: what goes wrong is reported to the sender (see the file comment).
   */
  async dispatch(destination: string, frame: StompFrame, sender: AppSender): Promise<void> {
    // Reports name the destination as the client sent it (`/app/order`), not the handler's `/order`.
    const sent = frame.headers.destination ?? destination;
    try {
      await this.run(destination, sent, frame, sender);
    } catch (err) {
      this.report(sent, err, sender);
    }
  }

  private async run(destination: string, sent: string, frame: StompFrame, sender: AppSender): Promise<void> {
    const mapped = this.handlers.find(destination);
    if (mapped === undefined) throw relayError(Errors.NO_HANDLER, sent);
    const registration = mapped.value;
    const context = this.options.context(sender);
    const message: AppMessage = {
      destination,
      params: mapped.params,
      headers: frame.headers,
      body: frame.body,
      user: sender.principal?.name ?? null,
      sessionId: sender.id,
      text: () => frame.body.toString('utf8'),
      json: <T>() => {
        try {
          return JSON.parse(frame.body.toString('utf8')) as T;
        } catch {
          throw relayError(Errors.BAD_REQUEST, `the body sent to ${sent} is not JSON`);
        }
      },
    };
    const result = await registration.handler(message, context);
    if (result === undefined) return;
    const { sendToUser, sendTo } = registration.options;
    if (sendToUser) await context.replyToUser(sendToUser, result);
    if (sendTo) await context.publish(sendTo, result);
  }

  /** Sends the sender's session an error report on its error destination (the log, when it has none). */
  private report(destination: string, err: unknown, sender: AppSender): void {
    const { logger, errorDestination } = this.options;
    let report: AppErrorReport;
    if (err instanceof AppError) report = { code: err.code, message: err.message, destination };
    else if (isRelayError(err)) report = { code: err.code, message: err.message, destination };
    else {
      logger.error({ err, session: sender.id, destination }, 'an application handler failed');
      report = { code: Errors.HANDLER_ERROR.code, message: relayError(Errors.HANDLER_ERROR, destination).message, destination };
    }
    const body = Buffer.from(JSON.stringify(report));
    const own = ownBrokerDestination(sender.principal?.name, sender.id, errorDestination);
    const taken = sender.deliverLocal(own, makeHeaders({ 'content-type': 'application/json' }), body);
    if (taken === 0) {
      logger.debug(
        { session: sender.id, report },
        `an application error report had nowhere to go (the session has no subscription to its user's ${errorDestination})`,
      );
    }
  }
}
