/**
 * Authorization per destination (Spring: a `ChannelInterceptor` or Spring Security's message
 * matchers): a decision the session asks for before every SUBSCRIBE and SEND. UNSUBSCRIBE, ACK,
 * NACK and transaction frames are never asked about (they only act on what was already allowed).
 *
 * ```ts
 * createRelay({
 *   authorize: ({ principal, command, destination }) =>
 *     !destination.startsWith('/topic/admin.') || principal?.claims?.role === 'admin',
 * });
 * ```
 * The `ACL_FILE` rules (server/auth/acl.ts) are one implementation of this same contract.
 */
import type { StompHeaders } from '../codec/frame';
import type { Principal } from './authenticator';

/** The frames an {@link Authorize} function decides on. */
export type AuthorizedCommand = 'SUBSCRIBE' | 'SEND';

/**
 * What an {@link Authorize} function is shown. Everything is a frozen copy: the function decides, it
 * cannot change the frame, the principal or the session.
 */
export interface AuthorizationRequest {
  /** Who the session is (with the authenticator's claims, e.g. a JWT's payload); null when anonymous. */
  readonly principal: Readonly<Principal> | null;
  /** The session's id (CONNECTED `session`). */
  readonly sessionId: string;
  /** `SUBSCRIBE` or `SEND`. */
  readonly command: AuthorizedCommand;
  /** The destination as the client sent it (`/user/queue/x`, `/app/chat/7`, `/topic/orders.eu`). */
  readonly destination: string;
  /** The frame's headers as the client sent them. */
  readonly headers: Readonly<StompHeaders>;
}

/**
 * Returns (or resolves) `true` to allow the frame, `false` to refuse it: the client then gets ERROR
 * `ACCESS_DENIED` and the session ends. Throwing, rejecting or answering anything but a boolean also
 * refuses it, with a generic ERROR `INTERNAL_ERROR` (details in the server log). While a decision is
 * pending, the session's later frames wait, so a client's frames keep their order.
 */
export type Authorize = (request: AuthorizationRequest) => boolean | Promise<boolean>;
