/**
 * Development mode: no secrets, no checks. The CONNECT `login` header names the user (stompjs:
 * `connectHeaders: { login: 'alice' }`); without one the session is anonymous. Never use this where
 * the identity matters: anyone can claim any name.
 */
import { Errors, relayError } from '../errors';
import type { AuthRequest, Authenticator, Principal } from './authenticator';

/** Longest user name accepted; names end up in logs, metrics-free indexes and destinations. */
const MAX_LOGIN_LENGTH = 256;

export class DevLoginAuthenticator implements Authenticator {
  readonly mode = 'dev';

  async authenticate(req: AuthRequest): Promise<Principal | null> {
    const login = req.connectHeaders.login;
    if (login === undefined || login === '') return null;
    if (login.length > MAX_LOGIN_LENGTH) {
      throw relayError(Errors.AUTHENTICATION_FAILED, `login is longer than ${MAX_LOGIN_LENGTH} characters`);
    }
    // A name with control characters or '/' could not be used in a /user/<name>/... destination.
    for (let i = 0; i < login.length; i++) {
      const c = login.charCodeAt(i);
      if (c < 0x20 || c === 0x7f || c === 0x2f) {
        throw relayError(Errors.AUTHENTICATION_FAILED, 'login contains a control character or "/"');
      }
    }
    return { name: login };
  }
}
