/**
 * Development mode: no secrets, no checks. The CONNECT `login` header names the user (stompjs:
 * `connectHeaders: { login: 'alice' }`); without one the session is anonymous. Never use this where
 * the identity matters: anyone can claim any name.
 */
import { Errors, relayError } from '../errors';
import { checkUserName, type AuthRequest, type Authenticator, type Principal } from './authenticator';

/**
 * Dev mode's authenticator (`AUTH_MODE=dev`, the default without a JWT secret): the CONNECT `login` header names the user, unchecked; no
 * login is an anonymous session.
 */
export class DevLoginAuthenticator implements Authenticator {
  readonly mode = 'dev';

  /**
   * The principal `{ name: login }`, frozen: the session hands this one object to events and
   * authorizers instead of a copy per session. An authenticator that wraps this one and adds to
   * the principal builds a new object (`{ ...principal, claims }`) rather than writing to it.
   */
  async authenticate(req: AuthRequest): Promise<Principal | null> {
    const login = req.connectHeaders.login;
    if (login === undefined || login === '') return null;
    checkUserName(login);
    // Dev logins are typed by hand: keep them addressable as /user/<name>/... without URL-encoding.
    if (login.includes('/')) throw relayError(Errors.AUTHENTICATION_FAILED, 'login contains "/"');
    return Object.freeze({ name: login }); // frozen: the session hands it out as is (no copy per session)
  }
}
