/**
 * Who is on the other end of a STOMP session. The session layer asks an {@link Authenticator} once,
 * when the CONNECT (or STOMP) frame arrives, and keeps the answer for the session's lifetime.
 */
import type { StompHeaders } from '../codec/frame';
import type { HandshakeInfo } from '../transport/transport';

export interface Principal {
  /** The user name: what `/user/...` destinations and presence are keyed on. */
  name: string;
  /** Whatever else the authenticator learned (JWT claims...). Never sent to the client. */
  claims?: Readonly<Record<string, unknown>>;
}

export interface AuthRequest {
  /** Headers of the CONNECT frame (`login`, `passcode`, `Authorization`...). */
  connectHeaders: Readonly<StompHeaders>;
  /** The HTTP handshake that opened the transport (query string token, cookies, remote address). */
  handshake: HandshakeInfo;
}

export interface Authenticator {
  /**
   * Resolves the principal, or `null` for an anonymous session. Rejects with a RelayError
   * AUTHENTICATION_FAILED to refuse the session (the client then gets ERROR and is closed).
   */
  authenticate(req: AuthRequest): Promise<Principal | null>;
  /** Short name of the scheme, for logs and the health endpoint (`dev`, `jwt`...). */
  readonly mode: string;
}

export { DevLoginAuthenticator } from './dev-login-authenticator';
