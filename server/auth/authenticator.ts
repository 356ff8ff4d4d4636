/**
 * Who is on the other end of a STOMP session. The session layer asks an {@link Authenticator} once,
 * when the CONNECT (or STOMP) frame arrives, and keeps the answer for the session's lifetime.
 */
import type { StompHeaders } from '../codec/frame';
import type { HandshakeInfo } from '../transport/transport';
import { Errors, relayError } from '../errors';

/** Who a session is: the user name that user destinations and presence key on, and what else the authenticator learned. */
export interface Principal {
  /** The user name: what `/user/...` destinations and presence are keyed on. */
  name: string;
  /** Whatever else the authenticator learned (JWT claims...). Never sent to the client. */
  claims?: Readonly<Record<string, unknown>>;
  /**
   * When the credential stops being valid (ms since the epoch; a JWT's `exp`): the session is then
   * ended with ERROR TOKEN_EXPIRED. Undefined: it lasts as long as the connection.
   */
  expiresAt?: number;
}

/** What an {@link Authenticator} is shown: the CONNECT frame's headers and the HTTP handshake. */
export interface AuthRequest {
  /** Headers of the CONNECT frame (`login`, `passcode`, `Authorization`...). */
  connectHeaders: Readonly<StompHeaders>;
  /** The HTTP handshake that opened the transport (query string token, cookies, remote address). */
  handshake: HandshakeInfo;
}

/**
 * Decides who a STOMP session is, once per session (CONNECT). Pass your own to `createRelay({ authenticator })`; {@link
 * PassportAuthenticator} runs a host's passport strategy.
 */
export interface Authenticator {
  /**
   * Resolves the principal, or `null` for an anonymous session. Rejects with a RelayError
   * AUTHENTICATION_FAILED to refuse the session (the client then gets ERROR and is closed).
   */
  authenticate(req: AuthRequest): Promise<Principal | null>;
  /** Short name of the scheme, for logs and the health endpoint (`dev`, `jwt`...). */
  readonly mode: string;
}

/** Longest user name accepted from any authenticator; names end up in logs, indexes and routing keys. */
export const MAX_USER_NAME_LENGTH = 256;

/**
 * Checks a user name whatever authenticator produced it (dev login, a JWT `sub`, a host strategy):
 * non-empty, at most {@link MAX_USER_NAME_LENGTH} characters, no control characters. Throws
 * AUTHENTICATION_FAILED.
 */
export function checkUserName(name: unknown): string {
  if (typeof name !== 'string' || name === '') throw relayError(Errors.AUTHENTICATION_FAILED, 'the user name is empty');
  if (name.length > MAX_USER_NAME_LENGTH) {
    throw relayError(Errors.AUTHENTICATION_FAILED, `the user name is longer than ${MAX_USER_NAME_LENGTH} characters`);
  }
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) throw relayError(Errors.AUTHENTICATION_FAILED, 'the user name contains a control character');
  }
  return name;
}
