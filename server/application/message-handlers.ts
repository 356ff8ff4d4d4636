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
 */
import type { StompFrame, StompHeaders } from '../codec/frame';
import { Errors, relayError } from '../errors';
import type { Payload, SendToUserOptions } from '../user/user-messaging';

/** What a handler receives. */
export interface AppMessage {
  /** Destination without the application prefix, e.g. `/hello`. */
  readonly destination: string;
  readonly headers: Readonly<StompHeaders>;
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
  /** Sends to the sender's own user destination (all their sessions, on any instance). */
  replyToUser(destination: string, payload: Payload, options?: SendToUserOptions): Promise<void>;
  /** Sends to any user's destination. */
  sendToUser(user: string, destination: string, payload: Payload, options?: SendToUserOptions): Promise<void>;
  /** Publishes to a broker destination (`/topic/...`, `/queue/...`). */
  publish(destination: string, payload: Payload, headers?: Record<string, string | number | boolean>): Promise<void>;
}

export interface HandlerOptions {
  /** Send the handler's return value (unless undefined) to the sender's user destination. */
  sendToUser?: string;
  /** Publish the handler's return value (unless undefined) to this broker destination. */
  sendTo?: string;
}

export type AppHandler = (message: AppMessage, context: AppContext) => Payload | undefined | void | Promise<Payload | undefined | void>;

interface Registration {
  options: HandlerOptions;
  handler: AppHandler;
}

/** The sender, as the handler registry needs it (a StompSession satisfies this). */
export interface AppSender {
  readonly id: string;
  readonly principal: { readonly name: string } | null;
}

/** Registry of application handlers by exact destination (without prefix). */
export class MessageHandlers {
  private readonly handlers = new Map<string, Registration>();

  constructor(private readonly context: (sender: AppSender) => AppContext) {}

  /** Registers `handler` for `destination` (e.g. `/hello` answers SENDs to `/app/hello`). */
  register(destination: string, options: HandlerOptions, handler: AppHandler): void {
    if (!destination.startsWith('/')) throw relayError(Errors.INVALID_CONFIG, `handler destination must start with "/": ${destination}`);
    if (this.handlers.has(destination)) throw relayError(Errors.INVALID_CONFIG, `a handler for ${destination} is already registered`);
    this.handlers.set(destination, { options, handler });
  }

  has(destination: string): boolean {
    return this.handlers.has(destination);
  }

  /**
   * Runs the handler for `destination` with the frame a session sent. Resolves when the handler and
   * its replies are done; rejects with a RelayError the session reports as ERROR.
   */
  async dispatch(destination: string, frame: StompFrame, sender: AppSender): Promise<void> {
    const registration = this.handlers.get(destination);
    if (!registration) throw relayError(Errors.DESTINATION_NOT_ALLOWED, `no application handler for ${destination}`);
    const context = this.context(sender);
    const message: AppMessage = {
      destination,
      headers: frame.headers,
      body: frame.body,
      user: sender.principal?.name ?? null,
      sessionId: sender.id,
      text: () => frame.body.toString('utf8'),
      json: <T>() => {
        try {
          return JSON.parse(frame.body.toString('utf8')) as T;
        } catch {
          throw relayError(Errors.BAD_REQUEST, `body sent to ${destination} is not JSON`);
        }
      },
    };
    const result = await registration.handler(message, context);
    if (result === undefined) return;
    const { sendToUser, sendTo } = registration.options;
    if (sendToUser) await context.replyToUser(sendToUser, result);
    if (sendTo) await context.publish(sendTo, result);
  }
}
