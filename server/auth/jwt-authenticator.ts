/**
 * STOMP authentication with a JWT whose `sub` names the user. The token may come, in this order of
 * preference, from the CONNECT `Authorization: Bearer …` header, the CONNECT `passcode` header
 * (what stomp.js's `connectHeaders.passcode` sends), the handshake's `access_token` query
 * parameter (SockJS cannot set headers), or the handshake's own Authorization header.
 */
import { Errors, relayError } from '../errors';
import type { AuthRequest, Authenticator, Principal } from './authenticator';
import { bearerToken, queryParam, verifyJwt, type JwtOptions } from './jwt';

export class JwtAuthenticator implements Authenticator {
  readonly mode = 'jwt';

  constructor(private readonly options: JwtOptions) {}

  async authenticate(req: AuthRequest): Promise<Principal | null> {
    const h = req.connectHeaders;
    const token = bearerToken(h.Authorization ?? h.authorization)
      ?? (h.passcode ? bearerToken(h.passcode) ?? h.passcode : undefined)
      ?? queryParam(req.handshake.url, 'access_token')
      ?? bearerToken(headerValue(req.handshake.headers.authorization));
    if (!token) {
      throw relayError(Errors.AUTHENTICATION_FAILED,
        'no token: send "Authorization: Bearer <jwt>" or passcode in CONNECT, or access_token in the URL');
    }
    const claims = verifyJwt(token, this.options);
    if (typeof claims.sub !== 'string' || claims.sub === '') {
      throw relayError(Errors.AUTHENTICATION_FAILED, 'token has no "sub" claim naming the user');
    }
    return { name: claims.sub, claims };
  }
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
